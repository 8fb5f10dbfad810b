package console

import "net/http"

// agencyRoutes adds the pages of each agency's people.
func (c *Server) agencyRoutes(mux *http.ServeMux) {}

// home is each agency's worklist.
func (c *Server) home(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "home", http.StatusOK, page{Title: "Worklist"})
}
