package console

import (
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/places"
)

// Tonight's safe havens near Chatham, as the note lists them: at 16:30
// they open later tonight; at 20:00 they are open now; at 02:00 none is
// open again before morning; a 16-year-old is sent to none of them (they
// are for adults); and Canterbury's, 40 km from Chatham, is not listed.
func TestTheNoteListsTheSafeHavensOpenTonightForThePerson(t *testing.T) {
	at := func(hh, mm int) time.Time { return time.Date(2026, 11, 26, hh, mm, 0, 0, places.London) }
	for _, c := range []struct {
		at   time.Time
		age  int
		want []string // each listed haven's name and when
	}{
		{at(16, 30), 34, []string{"Gillingham Safe Haven: opens at 18:00 tonight", "Maidstone Safe Haven: opens at 18:00 tonight"}},
		{at(20, 0), -1, []string{"Gillingham Safe Haven: open now, until 23:00", "Maidstone Safe Haven: open now, until 23:00"}},
		{at(2, 0), 34, nil},
		{at(20, 0), 16, nil},
	} {
		hs, err := havensTonight("Chatham", c.age, c.at)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hs {
			got = append(got, h.Name+": "+h.When)
		}
		if strings.Join(got, "; ") != strings.Join(c.want, "; ") {
			t.Errorf("at %s, aged %d: the note lists %q, want %q", c.at.Format("15:04"), c.age, got, c.want)
		}
	}
	if got := townOf("Pentagon bus station, chatham"); got != "Chatham" {
		t.Errorf("the town of the Pentagon bus station, chatham is %q", got)
	}
}
