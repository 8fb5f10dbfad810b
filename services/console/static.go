package console

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"sync"
)

// staticVersion is a hash of the console's stylesheet, script and icon.
// Their addresses carry it (?v=), so a browser keeps them from one page to
// the next and fetches them again only from a console that serves others.
var staticVersion = sync.OnceValue(func() string {
	h := sha256.New()
	_ = fs.WalkDir(webFS, "web/static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := webFS.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
})

// staticURL is the address of one of the console's files, with its version.
func staticURL(name string) string { return "/static/" + name + "?v=" + staticVersion() }

// staticFiles serves the console's files; asked for at this version, the
// browser may keep them (every other response of the console is no-store).
func staticFiles() http.Handler {
	sub, _ := fs.Sub(webFS, "web/static")
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("v") == staticVersion() {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}
