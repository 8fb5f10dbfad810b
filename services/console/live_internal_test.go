package console

import (
	"testing"
	"time"
)

// A page connects with the mark it was rendered at: it is sent what its
// person may see of what changed since, in order; a mark the hub can no
// longer answer for (another run of the console, too long ago, or not a
// mark) gets one bare "changed", so the page reads itself again.
func TestAPageConnectingLateIsSentWhatChangedSinceItWasRendered(t *testing.T) {
	h := newHub()
	h.publish(liveEvent{Episode: "ep-1", Type: "offered", ID: "e1"})
	rendered := h.mark()
	h.publish(liveEvent{Episode: "ep-1", Type: "declined", ID: "e2"})
	h.publish(liveEvent{Episode: "ep-2", Type: "opened", ID: "e3"})
	mine := func(e liveEvent) bool { return e.Episode == "ep-1" }

	_, backlog, cancel := h.subscribe(mine, rendered.String())
	cancel()
	if len(backlog) != 1 || backlog[0].ID != "e2" || backlog[0].Seq != 2 {
		t.Fatalf("a page rendered before the decline is sent %+v, want only the decline", backlog)
	}
	_, backlog, cancel = h.subscribe(mine, h.mark().String())
	cancel()
	if len(backlog) != 0 {
		t.Errorf("a page rendered after everything is sent %+v", backlog)
	}
	_, backlog, cancel = h.subscribe(mine, "")
	cancel()
	if len(backlog) != 0 {
		t.Errorf("a stream opened without a mark is sent %+v", backlog)
	}
	for _, since := range []string{"otherrun.1", "nonsense", rendered.boot + ".99"} {
		_, backlog, cancel = h.subscribe(mine, since)
		cancel()
		if len(backlog) != 1 || backlog[0].Episode != "" {
			t.Errorf("since %q: sent %+v, want one bare change", since, backlog)
		}
	}
	for i := 0; i < recentMax; i++ {
		h.publish(liveEvent{Episode: "ep-3", ID: "x"})
	}
	_, backlog, cancel = h.subscribe(mine, rendered.String())
	cancel()
	if len(backlog) != 1 || backlog[0].Episode != "" {
		t.Errorf("a page rendered more than %d events ago is sent %+v, want one bare change", recentMax, backlog)
	}
}

// The record applies an event a moment after it is stored: a page whose
// view does not hold an event the hub had announced before it was read
// is marked before that event, so the event is sent to it again, unless
// the event is older than the record ever lags (one the record could not
// read, which no view will hold).
func TestAPageWhoseViewLagsIsMarkedBeforeWhatItDoesNotHold(t *testing.T) {
	h := newHub()
	h.publish(liveEvent{Episode: "ep-1", ID: "e1"})
	h.publish(liveEvent{Episode: "ep-2", ID: "e2"})
	h.publish(liveEvent{Episode: "ep-1", ID: "e3"})
	m := h.mark()
	holds := func(ids ...string) func(string) bool {
		return func(id string) bool {
			for _, x := range ids {
				if x == id {
					return true
				}
			}
			return false
		}
	}
	now := time.Now()
	if got := h.markFor(m, "ep-1", holds("e1", "e3"), now); got != m {
		t.Errorf("a view holding all of its episode's events is marked %v, want %v", got, m)
	}
	got := h.markFor(m, "ep-1", holds("e1"), now)
	if got.seq != 2 {
		t.Fatalf("a view without e3 is marked at %d, want 2", got.seq)
	}
	_, backlog, cancel := h.subscribe(func(e liveEvent) bool { return e.Episode == "ep-1" }, got.String())
	cancel()
	if len(backlog) != 1 || backlog[0].ID != "e3" {
		t.Errorf("the lagging page is sent %+v, want e3", backlog)
	}
	// An event the record still does not hold after lagMax is one it could
	// not read: it no longer moves the mark.
	if got := h.markFor(m, "ep-1", holds("e1"), now.Add(lagMax+time.Second)); got != m {
		t.Errorf("a view without an event heard %v ago is marked %v, want %v", lagMax+time.Second, got, m)
	}
}
