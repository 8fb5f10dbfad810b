package ops

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Samples are the values of one scrape, by series: the metric's name and
// its labels as name="value" pairs, sorted, joined with commas
// (crisisbus_commands_total{agency="police",command="open",outcome="ok"}).
type Samples map[string]float64

// Get returns the value of name with the labels given as name, value, …
// pairs (all of the series' labels), and whether the scrape had it.
func (s Samples) Get(name string, labels ...string) (float64, bool) {
	var pairs []string
	for i := 0; i+1 < len(labels); i += 2 {
		pairs = append(pairs, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	slices.Sort(pairs)
	v, ok := s[name+"{"+strings.Join(pairs, ",")+"}"]
	return v, ok
}

// Scrape reads base/metrics as Prometheus would.
func Scrape(ctx context.Context, base string) (Samples, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", base, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", base, err)
	}
	out := Samples{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(pairs)
			key := func(n string, extra ...string) string {
				return n + "{" + strings.Join(slices.Sorted(slices.Values(append(slices.Clone(pairs), extra...))), ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key(name)] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key(name)] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key(name+"_count")] = float64(m.Histogram.GetSampleCount())
				out[key(name+"_sum")] = m.Histogram.GetSampleSum()
			case m.Untyped != nil:
				out[key(name)] = m.Untyped.GetValue()
			}
		}
	}
	return out, nil
}
