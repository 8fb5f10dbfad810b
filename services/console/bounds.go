package console

import (
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Every HTTP input is bounded here, before anything of it reaches NATS: a
// key, a subject or a request built from an unbounded cookie, path or form
// could otherwise cost the console its connection. Over-long input gets a
// 400 naming what was too long.
const (
	maxCookieLen   = 64        // a session token is 43 characters
	maxPathLen     = 256       // the longest page address is /episodes/<id>/<action>
	maxQueryLen    = 2048      // next= holds a page address and its query
	maxQueryValue  = 1024      //
	maxFormBytes   = 256 << 10 // a whole form
	maxFieldLen    = 16_000    // characters in one field (the contract allows 4,000 in its longest text)
	maxFormFields  = 100       //
	maxActionLen   = 32        //
	maxEpisodeID   = 36        // a UUID
	maxReasonLen   = 150       // episode.MaxReasonLen
	maxHeaderBytes = 32 << 10  // all request headers
)

// badRequest answers 400 with a message a person can act on.
func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, "<!doctype html><html lang=\"en-GB\"><head><meta charset=\"utf-8\"><title>Error: bad request – crisisbus</title>"+
		"<link rel=\"stylesheet\" href=\"/static/console.css\"></head><body><main id=\"main\" class=\"main width-container\">"+
		"<h1>The console cannot use this request</h1><p class=\"bad-request\">%s</p><p><a href=\"/\">Go to your worklist</a></p></main></body></html>",
		html.EscapeString(msg))
}

// bound refuses an over-long address or query before any handler runs.
func bound(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := len(r.URL.EscapedPath()); n > maxPathLen {
			badRequest(w, fmt.Sprintf("The page address is %d characters long; the console's are at most %d.", n, maxPathLen))
			return
		}
		if n := len(r.URL.RawQuery); n > maxQueryLen {
			badRequest(w, fmt.Sprintf("The query of the address is %d characters long; at most %d are accepted.", n, maxQueryLen))
			return
		}
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			badRequest(w, "The query of the address could not be read: "+err.Error())
			return
		}
		for k, vs := range q {
			for _, v := range vs {
				if len(v) > maxQueryValue {
					badRequest(w, fmt.Sprintf("The address's %s= is %d characters long; at most %d are accepted.", clip(k), len(v), maxQueryValue))
					return
				}
			}
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		next.ServeHTTP(w, r)
	})
}

// parseForm reads a posted form, refusing one too large, with too many
// fields or with a field too long, naming it.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return fmt.Errorf("the form is larger than the console accepts (at most %d KiB); nothing was stored", maxFormBytes>>10)
		}
		return fmt.Errorf("the form could not be read: %w", err)
	}
	if len(r.PostForm) > maxFormFields {
		return fmt.Errorf("the form has %d fields; the console's have at most %d; nothing was stored", len(r.PostForm), maxFormFields)
	}
	for k, vs := range r.PostForm {
		for _, v := range vs {
			if n := utf8.RuneCountInString(v); n > maxFieldLen {
				return fmt.Errorf("the field %q is %d characters long; at most %d are accepted; nothing was stored", clip(k), n, maxFieldLen)
			}
		}
	}
	return nil
}

// clip shortens a name an attacker chose before it is shown back.
func clip(s string) string {
	if len(s) > 40 {
		return strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}

// validEpisodeID reports whether id looks like an episode id: a UUID in
// its usual form, lower-case hex in groups of 8-4-4-4-12.
func validEpisodeID(id string) bool {
	if len(id) != maxEpisodeID {
		return false
	}
	for i, r := range id {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
				return false
			}
		}
	}
	return true
}

// episodeIDError is the 400 message for a path id that is no episode id.
func episodeIDError(id string) string {
	if len(id) > maxEpisodeID {
		return fmt.Sprintf("The episode id in the address is %d characters long; an episode id is a UUID of %d characters, like 5b0f9d4e-8a51-4c4e-9d0e-2f1c3a7b6e01.", len(id), maxEpisodeID)
	}
	return "The episode id in the address is not an episode id: it is a UUID, like 5b0f9d4e-8a51-4c4e-9d0e-2f1c3a7b6e01."
}

// safeNext is where to go after signing in: a path of this console only.
// Anything else (another site, a scheme, a backslash or a control character
// that a browser would drop or read as a slash) goes to the worklist.
func safeNext(next string) string {
	if next == "" || len(next) > maxQueryValue || next[0] != '/' {
		return "/"
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' || r == '\u00a0' || r == '\ufeff' {
			return "/"
		}
	}
	if strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") ||
		strings.ContainsFunc(u.Path, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	return next
}
