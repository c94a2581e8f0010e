// Package metricstest reads Prometheus metrics in tests: from a registry,
// or scraped over HTTP as Prometheus would.
package metricstest

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/ferrydata/ferry/internal/metrics"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are metric families by name.
type Families map[string]*dto.MetricFamily

// Gather reads every family of g.
func Gather(t testing.TB, g prometheus.Gatherer) Families {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	out := Families{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// Scrape GETs url and parses the Prometheus text format.
func Scrape(url string) (Families, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	return fams, nil
}

// Value is the value of the series of name whose labels include labels:
// a counter's or gauge's value, a histogram's sample count. ok is false
// when there is no such series.
func (f Families) Value(name string, labels map[string]string) (v float64, ok bool) {
	m := f.series(name, labels)
	if m == nil {
		return 0, false
	}
	{
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// Sum is a histogram series' sum of samples (0 when there is none).
func (f Families) Sum(name string, labels map[string]string) float64 {
	return f.series(name, labels).GetHistogram().GetSampleSum()
}

// series is the first series of name whose labels include labels.
func (f Families) series(name string, labels map[string]string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
next:
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, want := range labels {
			if have[k] != want {
				continue next
			}
		}
		return m
	}
	return nil
}

// Labels are the distinct values label takes in name's series.
func (f Families) Labels(name, label string) []string {
	var out []string
	seen := map[string]bool{}
	if fam := f[name]; fam != nil {
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && !seen[l.GetValue()] {
					seen[l.GetValue()] = true
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

// Instruments returns Ferry's instruments for partners on a fresh exporter
// of the worker, whose Registry a test gathers with Gather.
func Instruments(t testing.TB, partners ...string) (*metrics.Exporter, *metrics.Instruments) {
	t.Helper()
	exp, err := metrics.NewExporter(metrics.WorkerService)
	if err != nil {
		t.Fatal(err)
	}
	in, err := metrics.NewInstruments(exp.Meter, partners)
	if err != nil {
		t.Fatal(err)
	}
	return exp, in
}
