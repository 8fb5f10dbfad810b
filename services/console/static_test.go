package console_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/crisisbus/crisisbus/services/console"
)

// A browser keeps the stylesheet and the script from one page to the next
// (each form sent opens a page), and takes a console's new ones at once:
// their addresses carry the version of what is served.
func TestTheStylesheetAndScriptAreKeptByTheBrowserUntilTheyChange(t *testing.T) {
	c, _ := startConsoleWith(t, console.Config{})
	_, page := get(t, c.URL()+"/signin", "")
	for _, name := range []string{"console.css", "live.js"} {
		m := regexp.MustCompile(`"(/static/` + regexp.QuoteMeta(name) + `\?v=[0-9a-f]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("the sign-in page does not link %s with its version:\n%s", name, page)
		}
		for u, want := range map[string]string{
			m[1]:                              "public, max-age=31536000, immutable",
			"/static/" + name + "?v=0123abcd": "no-store", // another version: not this console's
			"/static/" + name:                 "no-store",
		} {
			resp, err := http.Get(c.URL() + u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != want {
				t.Errorf("GET %s: %s, Cache-Control %q; want 200 and %q", u, resp.Status, resp.Header.Get("Cache-Control"), want)
			}
		}
	}
}
