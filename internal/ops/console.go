package ops

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
)

// Console wraps the console's handler so every request is counted by method
// and status, a sign-in (POST /signin answered with a redirect) or its
// refusal (any other status) is counted, and the pages open with live
// updates (GET /live) are a gauge. It reads nothing a person submitted.
func Console(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		live := r.Method == http.MethodGet && r.URL.Path == "/live"
		if live {
			consoleLive.Inc()
			defer consoleLive.Dec()
		}
		h.ServeHTTP(rec, r)
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost:
		default:
			method = "other"
		}
		code := strconv.Itoa(rec.code)
		consoleRequests.WithLabelValues(method, code).Inc()
		if r.Method == http.MethodPost && r.URL.Path == "/signin" {
			if rec.code == http.StatusSeeOther {
				consoleSignins.Inc()
			} else {
				consoleRefusals.WithLabelValues(code).Inc()
			}
		}
	})
}

// statusWriter notes the status a handler answers with, and passes on
// flushing (the live updates' event stream) and hijacking.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.wrote {
		s.code, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		s.wrote = true
		f.Flush()
	}
}

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := s.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijacking is not supported")
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
