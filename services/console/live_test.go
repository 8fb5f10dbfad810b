package console_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// readLiveAndWhole reads the page the person has open twice more, as the
// page's script does when something changes (the live regions alone) and
// as a reload does (the whole page), and gives each live region of both,
// by id. It reads whole, live, whole until the two whole pages agree (a
// minute or the record's disclosures may move on between reads); the
// running clocks' text is left out, as the script rewrites it every second.
const readLiveAndWhole = `(async () => {
  const read = async (live) => {
    const r = await fetch(location.pathname, {credentials: "same-origin", headers: live ? {"X-Requested-With": "live"} : {}});
    const text = await r.text();
    const doc = new DOMParser().parseFromString(text, "text/html");
    doc.querySelectorAll("time[data-due]").forEach(t => { t.textContent = ""; });
    return {text, doc};
  };
  const regions = (doc, sel) => Object.fromEntries([...doc.querySelectorAll(sel)].map(e => [e.id, e.innerHTML]));
  for (let i = 0; i < 20; i++) {
    const a = await read(false), l = await read(true), b = await read(false);
    const whole = regions(a.doc, "[data-live]");
    if (JSON.stringify(whole) !== JSON.stringify(regions(b.doc, "[data-live]"))) { continue; }
    return JSON.stringify({whole, live: regions(l.doc, "body > [id]"), wholeBytes: a.text.length, liveBytes: l.text.length});
  }
  return JSON.stringify({unsettled: true});
})()`

// liveShowsWhatAReloadShows checks that the page, refreshing itself, puts
// in each of its live regions what a reload of the page would show there,
// and no region less: a person watching a page is never shown less than a
// person who reloads it. It returns the sizes of what each read sent.
func (p *person) liveShowsWhatAReloadShows(what string) (wholeBytes, liveBytes int) {
	p.t.Helper()
	raw := browsertest.Get(p.t, p.tab, "read "+what+" live and whole", chromedp.Evaluate[string](readLiveAndWhole, chromedp.EvalAwaitPromise))
	var got struct {
		Whole, Live           map[string]string
		WholeBytes, LiveBytes int
		Unsettled             bool
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
	if got.Unsettled {
		p.t.Fatalf("%s: the page changed between every two reloads", what)
	}
	wholeIDs, liveIDs := slices.Sorted(maps.Keys(got.Whole)), slices.Sorted(maps.Keys(got.Live))
	if len(wholeIDs) == 0 || !slices.Equal(wholeIDs, liveIDs) {
		p.t.Fatalf("%s: the page has live regions %v; refreshing itself it is sent %v", what, wholeIDs, liveIDs)
	}
	for _, id := range wholeIDs {
		if w, l := strings.TrimSpace(got.Whole[id]), strings.TrimSpace(got.Live[id]); w != l {
			p.t.Errorf("%s: region %s refreshed live is not what a reload shows:\nlive:   %s\nreload: %s", what, id, l, w)
		}
	}
	return got.WholeBytes, got.LiveBytes
}
