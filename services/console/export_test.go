package console

import "time"

// Routes are the patterns of every route the console serves.
func Routes() []string {
	var c Server
	c.routes()
	return c.patterns
}

// WithLivePing is cfg with open pages' streams checked every d.
func WithLivePing(cfg Config, d time.Duration) Config {
	cfg.livePing = d
	return cfg
}

// WithTimeouts is cfg with a whole request bounded by read and a
// kept-alive connection closed after idle.
func WithTimeouts(cfg Config, read, idle time.Duration) Config {
	cfg.readTimeout, cfg.idleTimeout = read, idle
	return cfg
}

// WithPasswordChecks is cfg with at most n passwords checked at once, a
// sign-in waiting at most wait for its turn, and during called as each
// check starts.
func WithPasswordChecks(cfg Config, n int, wait time.Duration, during func()) Config {
	cfg.checks, cfg.checkWait, cfg.checking = n, wait, during
	return cfg
}
