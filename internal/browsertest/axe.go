package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core, the accessibility engine (axe/README.md).
//
//go:embed axe/axe.min.js
var axeSource string

// AxeViolation is one rule axe-core found broken, with the elements that
// break it.
type AxeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

func (v AxeViolation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", v.ID, v.Impact, v.Help)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n    at %v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
	}
	return b.String()
}

// axeRun opens every collapsed section (details elements), so what they
// hold is checked too, then runs axe-core on the whole page against WCAG
// 2.2 A and AA and axe's best practices.
const axeRun = `(async () => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const r = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}, resultTypes: ["violations"]});
  return JSON.stringify(r.violations);
})()`

// Axe injects axe-core into the page of ctx (through DevTools, so the
// console's Content-Security-Policy does not apply to it), opens every
// collapsed section, and returns what axe-core finds.
func Axe(t testing.TB, ctx context.Context) []AxeViolation {
	t.Helper()
	if ok := Get(t, ctx, "inject axe-core", chromedp.Evaluate[bool](`typeof axe === "object"`)); !ok {
		Get(t, ctx, "inject axe-core", chromedp.Evaluate[bool](axeSource+";true"))
	}
	raw := Get(t, ctx, "run axe-core", chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	var vs []AxeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("read axe-core's answer: %v", err)
	}
	return vs
}

// Accessible fails the test for each axe-core violation on the page,
// naming the page and the elements.
func Accessible(t testing.TB, ctx context.Context, page string) {
	t.Helper()
	for _, v := range Axe(t, ctx) {
		t.Errorf("%s: %s", page, v)
	}
}
