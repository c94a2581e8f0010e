package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/timestamppb"

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
	exp, in := metricstest.Instruments(t, "acme")
	ctx := context.Background()
	in.Intake(ctx, "http/s3", "started", "")
	in.Intake(ctx, "http/s3", "ignored", "unknown_partner")
	in.Intake(ctx, "sqs/s3", "ignored", "some free text")
	in.SQS(ctx, "received", 3)
	in.Reconciled(ctx, "acme")
	in.Reconciled(ctx, "nobody")
	in.Stage(ctx, "acme", "inspect", 1500*time.Millisecond)
	in.HTTPRefused(ctx, 401)
	in.AuditVerificationFailed(ctx, "acme")
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
		{metrics.AuditVerificationFailuresTotal, map[string]string{"partner": "acme"}, 1},
	} {
		if got, ok := m.Value(c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if got := m.Sum(metrics.StageDuration, map[string]string{"stage": "inspect"}); got != 1.5 {
		t.Errorf("stage duration sum %v, want 1.5 (seconds)", got)
	}
}

// Alert rules use increase(): the audit failure counter must exist at 0
// before the first failure, or that failure is never seen as an increase.
func TestAuditFailuresStartAtZero(t *testing.T) {
	exp, in := metricstest.Instruments(t, "acme", "globex")
	ctx := context.Background()
	in.StartAuditFailuresAtZero(ctx)
	in.AuditVerificationFailed(ctx, "globex")
	m := metricstest.Gather(t, exp.Registry)
	for p, want := range map[string]float64{"acme": 0, "globex": 1, metrics.Other: 0} {
		if v, ok := m.Value(metrics.AuditVerificationFailuresTotal, map[string]string{"partner": p}); !ok || v != want {
			t.Errorf("%s{partner=%s} = %v (present %v), want %v", metrics.AuditVerificationFailuresTotal, p, v, ok, want)
		}
	}
}

func TestBacklogReportsItsSourcesLastAnswers(t *testing.T) {
	exp, err := metrics.NewExporter(metrics.WorkerService)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	counts, lists := 0, 0
	b := &metrics.Backlog{
		Partners: []string{"acme", "globex", "initech", "hooli"}, TTL: time.Minute, Now: func() time.Time { return now },
		Count: func(_ context.Context, p string) (int64, error) {
			counts++
			switch p {
			case "globex":
				return 0, errors.New("visibility unavailable")
			case "initech":
				return 0, nil
			}
			return 2, nil
		},
		Oldest: func(_ context.Context, p string) (time.Time, error) {
			lists++
			switch p {
			case "acme":
				return now.Add(-time.Hour), nil
			case "globex":
				return now.Add(-2 * time.Hour), nil
			}
			return time.Time{}, errors.New("visibility unavailable")
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
	partner := func(p string) map[string]string { return map[string]string{"partner": p} }
	if v, ok := m.Value(metrics.QuarantineBacklog, partner("acme")); !ok || v != 2 {
		t.Errorf("acme backlog %v (present %v), want 2", v, ok)
	}
	if v, _ := m.Value(metrics.QuarantineOldestAge, partner("acme")); v != 3600 {
		t.Errorf("acme oldest age %v, want 3600", v)
	}
	if _, ok := m.Value(metrics.QuarantineBacklog, partner("globex")); ok {
		t.Error("globex's backlog could not be counted, yet a value is reported")
	}
	if v, _ := m.Value(metrics.QuarantineOldestAge, partner("globex")); v != 7200 {
		t.Errorf("globex oldest age %v, want 7200: a failed count must not hide a readable wait", v)
	}
	if v, ok := m.Value(metrics.QuarantineOldestAge, partner("initech")); !ok || v != 0 {
		t.Errorf("initech has nothing waiting: oldest age %v (present %v), want 0", v, ok)
	}
	if _, ok := m.Value(metrics.QuarantineOldestAge, partner("hooli")); ok {
		t.Error("hooli's oldest wait could not be read, yet a value is reported")
	}
	metricstest.Gather(t, exp.Registry) // scrapes read nothing themselves
	if counts != 4 || lists != 3 {
		t.Errorf("%d counts and %d lists for one refresh and two scrapes, want 4 (one per partner) and 3 (none for the partner with nothing waiting)", counts, lists)
	}
}

// The configured deadlines are reported from the first scrape on, only
// for the partners that have one.
func TestBacklogReportsTheConfiguredDeadlines(t *testing.T) {
	exp, err := metrics.NewExporter(metrics.WorkerService)
	if err != nil {
		t.Fatal(err)
	}
	b := &metrics.Backlog{
		Partners: []string{"acme", "initech"}, TTL: time.Minute,
		Deadlines: map[string]metrics.Deadline{"initech": {After: 72 * time.Hour, Action: "escalate"}},
	}
	if err := b.Register(exp.Meter); err != nil {
		t.Fatal(err)
	}
	m := metricstest.Gather(t, exp.Registry)
	if v, ok := m.Value(metrics.QuarantineDeadline, map[string]string{"partner": "initech", "action": "escalate"}); !ok || v != 259200 {
		t.Errorf("initech deadline %v (present %v), want 259200 s with action escalate", v, ok)
	}
	if got := m.Labels(metrics.QuarantineDeadline, "partner"); len(got) != 1 {
		t.Errorf("deadline series for partners %v, want initech's alone (acme has no deadline)", got)
	}
}

// fakeVisibility answers CountWorkflow and ListWorkflow from a fixed set of
// pages, as a Temporal frontend does.
type fakeVisibility struct {
	count int64
	pages [][]time.Time
	asked []string // the page tokens ListWorkflow was called with
}

func (f *fakeVisibility) CountWorkflow(_ context.Context, req *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error) {
	if req.GetQuery() != metrics.VisibilityQuery("acme") {
		return nil, fmt.Errorf("unexpected query %q", req.GetQuery())
	}
	return &workflowservice.CountWorkflowExecutionsResponse{Count: f.count}, nil
}

func (f *fakeVisibility) ListWorkflow(_ context.Context, req *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error) {
	if req.GetQuery() != metrics.VisibilityQuery("acme") {
		return nil, fmt.Errorf("unexpected query %q", req.GetQuery())
	}
	token := string(req.GetNextPageToken())
	f.asked = append(f.asked, token)
	page := 0
	if token != "" {
		page, _ = strconv.Atoi(token)
	}
	resp := &workflowservice.ListWorkflowExecutionsResponse{}
	for _, st := range f.pages[page] {
		resp.Executions = append(resp.Executions, &workflowpb.WorkflowExecutionInfo{StartTime: timestamppb.New(st)})
	}
	if page+1 < len(f.pages) {
		resp.NextPageToken = []byte(strconv.Itoa(page + 1))
	}
	return resp, nil
}

// The oldest wait is the earliest start among every page of the running
// quarantined executions, wherever the listing puts it.
func TestVisibilityBacklogReadsEveryPageForTheOldestWait(t *testing.T) {
	exp, err := metrics.NewExporter(metrics.WorkerService)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	v := &fakeVisibility{count: 5, pages: [][]time.Time{
		{now.Add(-time.Minute), now.Add(-2 * time.Minute)},
		{}, // an empty page that still has a next one
		{now.Add(-90 * time.Minute), now.Add(-3 * time.Minute)},
		{now.Add(-4 * time.Minute)},
	}}
	b := metrics.NewVisibilityBacklog(v, []string{"acme"}, time.Minute, nil)
	b.Now = func() time.Time { return now }
	if err := b.Register(exp.Meter); err != nil {
		t.Fatal(err)
	}
	b.Refresh(context.Background())
	m := metricstest.Gather(t, exp.Registry)
	acme := map[string]string{"partner": "acme"}
	if got, _ := m.Value(metrics.QuarantineBacklog, acme); got != 5 {
		t.Errorf("backlog %v, want 5", got)
	}
	if got, _ := m.Value(metrics.QuarantineOldestAge, acme); got != 5400 {
		t.Errorf("oldest age %v, want 5400 (the earliest start, on page 3)", got)
	}
	if want := []string{"", "1", "2", "3"}; !slices.Equal(v.asked, want) {
		t.Errorf("pages asked %q, want %q", v.asked, want)
	}
}

func TestStartRefusesAnAddressInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, _, err = metrics.Start(metrics.WorkerService, "metrics.worker_listen", l.Addr().String(), []string{"acme"}, nil, nil)
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
