package console

// Routes are the patterns of every route the console serves.
func Routes() []string {
	var c Server
	c.routes()
	return c.patterns
}
