package episode

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"testing"

	"github.com/crisisbus/crisisbus/events"
)

// casesIn lists the event types a function's type switches name
// (case *events.X), read from the source file.
func casesIn(t *testing.T, file, fn string) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != fn {
			continue
		}
		ast.Inspect(fd, func(n ast.Node) bool {
			cc, ok := n.(*ast.CaseClause)
			if !ok {
				return true
			}
			for _, x := range cc.List {
				if star, ok := x.(*ast.StarExpr); ok {
					if sel, ok := star.X.(*ast.SelectorExpr); ok {
						if id, ok := sel.X.(*ast.Ident); ok && id.Name == "events" {
							out[sel.Sel.Name] = true
						}
					}
				}
			}
			return true
		})
	}
	if len(out) == 0 {
		t.Fatalf("no function %s with event cases in %s", fn, file)
	}
	return out
}

// Every type in the catalogue has a sentence on the timeline (describe) and
// a place in the episode's fold (fold), so a new event type cannot reach
// people as its bare name, or be stored and change nothing they see. A
// disclosure is not on the timeline: it is folded into who viewed the
// record (Disclosures), and a place's update is about a place.
func TestEveryCatalogueTypeHasATimelineSentenceAndAPlaceInTheFold(t *testing.T) {
	sentences := casesIn(t, "describe.go", "describe")
	folded := casesIn(t, "view.go", "fold")
	for _, s := range events.Catalogue() {
		name := reflect.TypeOf(s.Data()).Elem().Name()
		if !OnTimeline(events.Event{Type: s.Type()}) {
			continue // a disclosure, a place's update: not about an episode's course
		}
		if !sentences[name] {
			t.Errorf("%s (%s) has no timeline sentence in describe", s.Name, name)
		}
		if !folded[name] {
			t.Errorf("%s (%s) has no place in the episode's fold", s.Name, name)
		}
	}
}
