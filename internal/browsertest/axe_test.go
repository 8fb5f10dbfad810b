package browsertest_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/crisisbus/crisisbus/internal/browsertest"
)

// axe-core finds what it is there to find, including inside a collapsed
// section: an image without a text alternative, a page without a language,
// and a field without a label inside a closed details element.
func TestAxeFindsViolationsInsideCollapsedSectionsToo(t *testing.T) {
	ctx := browsertest.New(t)
	page := `<!doctype html><html><head><title>t</title></head><body><main><h1>A page</h1><img src="data:,">` +
		`<details><summary>More</summary><input type="text"></details></main></body></html>`
	browsertest.Do(t, ctx, "open the page", chromedp.Navigate("data:text/html,"+url.PathEscape(page)), chromedp.WaitVisible(chromedp.CSS("h1")))
	var ids []string
	for _, v := range browsertest.Axe(t, ctx) {
		ids = append(ids, v.ID)
	}
	for _, want := range []string{"image-alt", "html-has-lang", "label"} {
		if !slices.Contains(ids, want) {
			t.Errorf("axe-core found %v, not %s", ids, want)
		}
	}
	ok := `<!doctype html><html lang="en"><head><title>t</title></head><body><main><h1>A page</h1><p>Fine.</p></main></body></html>`
	browsertest.Do(t, ctx, "open a sound page", chromedp.Navigate("data:text/html,"+url.PathEscape(ok)), chromedp.WaitVisible(chromedp.CSS("h1")))
	if vs := browsertest.Axe(t, ctx); len(vs) != 0 {
		t.Errorf("a sound page has violations: %v", vs)
	}
}
