package deploy_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/internal/ops"
)

var metricName = regexp.MustCompile(`crisisbus_[a-z0-9_]+`)

// alertRules reads monitoring/alerts.yml: each alert's name and expression.
func alertRules(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	rules, name := map[string]string{}, ""
	for _, line := range strings.Split(string(raw), "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "- alert:"):
			name = strings.TrimSpace(strings.TrimPrefix(l, "- alert:"))
			if _, dup := rules[name]; dup {
				t.Errorf("alert %s is defined twice", name)
			}
			rules[name] = ""
		case strings.HasPrefix(l, "expr:"):
			if name == "" || rules[name] != "" {
				t.Errorf("an expression outside an alert, or a second one in %s: %s", name, l)
			}
			rules[name] = strings.TrimSpace(strings.TrimPrefix(l, "expr:"))
		}
	}
	return rules
}

// dashboardExprs reads every query of monitoring/grafana-dashboard.json.
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for i, tg := range p.Targets {
			out[p.Title+" #"+string(rune('A'+i))] = tg.Expr
		}
	}
	return out
}

// Every metric the alert rules and the Grafana dashboard use exists in
// crisisbus's registry, and the alerts cover what the people running it
// must hear of first: a service not ready, consumer lag, dead letters,
// clock breaches unanswered and a disk nearly full.
func TestAlertsAndDashboardUseOnlyMetricsThatExist(t *testing.T) {
	names := ops.Names()
	rules := alertRules(t)
	queries := dashboardExprs(t)
	used := map[string]bool{}
	check := func(where, expr string) {
		if expr == "" {
			t.Errorf("%s has no expression", where)
		}
		for _, m := range metricName.FindAllString(expr, -1) {
			used[m] = true
			if !slices.Contains(names, m) {
				t.Errorf("%s uses %s, which crisisbus does not expose (internal/ops has %v)", where, m, names)
			}
		}
	}
	for name, expr := range rules {
		check("alert "+name, expr)
	}
	for name, expr := range queries {
		check("dashboard panel "+name, expr)
	}
	for _, want := range []string{ops.ServiceReady, ops.ConsumerPending, ops.DeadLetters, ops.ClockRepeatsTotal, ops.StoreDiskFreeBytes} {
		found := false
		for _, expr := range rules {
			found = found || slices.Contains(metricName.FindAllString(expr, -1), want)
		}
		if !found {
			t.Errorf("no alert rule uses %s", want)
		}
	}
	// The dashboard shows every metric crisisbus exposes (a histogram by
	// its buckets).
	for _, n := range names {
		if strings.HasSuffix(n, "_sum") || strings.HasSuffix(n, "_count") || used[n] || used[n+"_bucket"] {
			continue
		}
		if !strings.HasSuffix(n, "_bucket") && slices.Contains(names, n+"_bucket") {
			continue
		}
		t.Errorf("%s is on no dashboard panel and in no alert", n)
	}
}
