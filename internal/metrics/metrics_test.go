package metrics_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
)

func TestLabelsAreBounded(t *testing.T) {
	p := metrics.NewPartners([]string{"acme", "globex"})
	for in, want := range map[string]string{"acme": "acme", "globex": "globex", "evil-corp": metrics.Other, "": metrics.Other, "acme/inbound/x.csv": metrics.Other} {
		if got := p.Label(in); got != want {
			t.Errorf("partner %q: label %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"http/s3": "http", "sqs/sns/eventbridge": "sqs", "reconcile": "reconcile", "backfill": "backfill", "ftp/x": metrics.Other, "": metrics.Other} {
		if got := metrics.Source(in); got != want {
			t.Errorf("source %q: label %q, want %q", in, got, want)
		}
	}
	if got := metrics.Class("", "a"); got != metrics.None {
		t.Errorf("empty class: %q", got)
	}
	if got := metrics.Class("key acme/inbound/secret.csv is odd", metrics.IgnoreClasses...); got != metrics.Other {
		t.Errorf("free text became a label value: %q", got)
	}
}

func TestInstrumentsExportWithBoundedLabels(t *testing.T) {
	exp, err := metrics.NewExporter(metrics.WorkerService)
	if err != nil {
		t.Fatal(err)
	}
	in, err := metrics.NewInstruments(exp.Meter, []string{"acme"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	in.Intake(ctx, "http/s3", "started", "")
	in.Intake(ctx, "http/s3", "ignored", "unknown_partner")
	in.Intake(ctx, "sqs/s3", "ignored", "some free text")
	in.SQS(ctx, "received", 3)
	in.Reconciled(ctx, "acme")
	in.Reconciled(ctx, "nobody")
	in.Stage(ctx, "acme", "inspect", 1500*time.Millisecond)
	in.HTTPRefused(ctx, 401)
	var none *metrics.Instruments // commands without an endpoint pass none
	none.Intake(ctx, "http/s3", "started", "")

	m := metricstest.Gather(t, exp.Registry)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{metrics.IntakeTotal, map[string]string{"source": "http", "result": "started", "reason": "none"}, 1},
		{metrics.IntakeTotal, map[string]string{"source": "http", "result": "ignored", "reason": "unknown_partner"}, 1},
		{metrics.IntakeTotal, map[string]string{"source": "sqs", "result": "ignored", "reason": "other"}, 1},
		{metrics.SQSMessagesTotal, map[string]string{"action": "received"}, 3},
		{metrics.ReconcileStartedTotal, map[string]string{"partner": "acme"}, 1},
		{metrics.ReconcileStartedTotal, map[string]string{"partner": "other"}, 1},
		{metrics.StageDuration, map[string]string{"partner": "acme", "stage": "inspect"}, 1},
		{metrics.HTTPRefusedTotal, map[string]string{"code": "401"}, 1},
	} {
		if got, ok := m.Value(c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got := m.Sum(metrics.StageDuration, map[string]string{"stage": "inspect"}); got != 1.5 {
		t.Errorf("stage duration sum %v, want 1.5 (seconds)", got)
	}
}

func TestBacklogReportsItsSourcesLastAnswers(t *testing.T) {
	exp, err := metrics.NewExporter(metrics.WorkerService)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	calls := 0
	b := &metrics.Backlog{
		Partners: []string{"acme", "globex"}, TTL: time.Minute, Now: func() time.Time { return now },
		Count: func(_ context.Context, p string) (int64, error) {
			calls++
			if p == "globex" {
				return 0, errors.New("visibility unavailable")
			}
			return 2, nil
		},
		Oldest: func(context.Context) (map[string]time.Time, error) {
			return map[string]time.Time{"acme": now.Add(-time.Hour)}, nil
		},
	}
	if err := b.Register(exp.Meter); err != nil {
		t.Fatal(err)
	}
	if _, ok := metricstest.Gather(t, exp.Registry).Value(metrics.QuarantineBacklog, nil); ok {
		t.Error("a backlog is reported before it was read")
	}
	b.Refresh(context.Background())
	m := metricstest.Gather(t, exp.Registry)
	if v, ok := m.Value(metrics.QuarantineBacklog, map[string]string{"partner": "acme"}); !ok || v != 2 {
		t.Errorf("acme backlog %v (present %v), want 2", v, ok)
	}
	if _, ok := m.Value(metrics.QuarantineBacklog, map[string]string{"partner": "globex"}); ok {
		t.Error("globex's backlog could not be counted, yet a value is reported")
	}
	if v, _ := m.Value(metrics.QuarantineOldestAge, map[string]string{"partner": "acme"}); v != 3600 {
		t.Errorf("acme oldest age %v, want 3600", v)
	}
	metricstest.Gather(t, exp.Registry) // scrapes read nothing themselves
	if calls != 2 {
		t.Errorf("%d visibility counts for one refresh and two scrapes, want 2 (one per partner)", calls)
	}
}

func TestStartRefusesAnAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, _, err = metrics.Start(metrics.WorkerService, "metrics.worker_listen", l.Addr().String(), []string{"acme"}, nil)
	if err == nil || !strings.Contains(err.Error(), "metrics.worker_listen") || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("want an error naming metrics.worker_listen and the address, got %v", err)
	}
}

// Prometheus shows the process's service.name as target_info's
// service_name: dashboards tell worker and bridge apart by it.
func TestTargetInfoNamesTheService(t *testing.T) {
	for _, c := range []struct{ service, env, want string }{
		{metrics.WorkerService, "", "ferry-worker"},
		{metrics.BridgeService, "", "ferry-bridge"},
		// OpenTelemetry's own variable still wins, as operators expect.
		{metrics.WorkerService, "ferry-worker-eu", "ferry-worker-eu"},
	} {
		t.Setenv("OTEL_SERVICE_NAME", c.env)
		exp, err := metrics.NewExporter(c.service)
		if err != nil {
			t.Fatal(err)
		}
		m := metricstest.Gather(t, exp.Registry)
		if got := m.Labels("target_info", "service_name"); len(got) != 1 || got[0] != c.want {
			t.Errorf("NewExporter(%q) with OTEL_SERVICE_NAME=%q: target_info service_name %v, want %q", c.service, c.env, got, c.want)
		}
	}
}
