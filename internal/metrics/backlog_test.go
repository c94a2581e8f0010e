//go:build integration

package metrics_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The backlog's count and its oldest wait come from the same running,
// quarantined executions in a real Temporal's visibility: a file whose
// workflow was terminated (its record stays quarantined in the files
// table) counts in neither.
func TestBacklogCountAndOldestWaitAgreeOnRunningExecutions(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	ctx := context.Background()
	// A partner name of its own keeps other tests' executions out of the
	// query; a task queue no worker polls keeps the executions running,
	// as a file waiting for its approvers does.
	partner := stacktest.Unique("p")
	queue := stacktest.Unique("unpolled-")
	start := func(status filestatus.Status) client.WorkflowRun {
		t.Helper()
		run, err := st.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: stacktest.Unique("ingest-" + partner + "-"), TaskQueue: queue,
			TypedSearchAttributes: temporal.NewSearchAttributes(
				ingest.PartnerAttr.ValueSet(partner), ingest.FileStatusAttr.ValueSet(string(status))),
		}, ingest.WorkflowName)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Temporal.TerminateWorkflow(context.Background(), run.GetID(), "", "test over") })
		return run
	}
	startTime := func(run client.WorkflowRun) time.Time {
		t.Helper()
		d, err := st.Temporal.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		return d.GetWorkflowExecutionInfo().GetStartTime().AsTime()
	}

	terminated := start(filestatus.Quarantined) // the oldest, but nobody waits for it any more
	time.Sleep(time.Second)                     // so the two waits differ by far more than clocks do
	waiting := start(filestatus.Quarantined)
	start(filestatus.Quarantined)
	start(filestatus.Inspecting) // running, not quarantined
	if err := st.Temporal.TerminateWorkflow(ctx, terminated.GetID(), terminated.GetRunID(), "operator terminated it"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	want := now.Sub(startTime(waiting)).Seconds()

	exp, err := metrics.NewExporter(metrics.WorkerService)
	if err != nil {
		t.Fatal(err)
	}
	b := metrics.NewVisibilityBacklog(st.Temporal, []string{partner}, time.Minute, nil)
	b.Now = func() time.Time { return now }
	if err := b.Register(exp.Meter); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{metrics.LabelPartner: partner}
	// Visibility is eventually consistent: wait until it shows what was done.
	stacktest.Eventually(t, 20*time.Second, func() (bool, string) {
		b.Refresh(ctx)
		m := metricstest.Gather(t, exp.Registry)
		n, _ := m.Value(metrics.QuarantineBacklog, labels)
		age, _ := m.Value(metrics.QuarantineOldestAge, labels)
		return n == 2 && math.Abs(age-want) < 0.5,
			fmt.Sprintf("backlog %v, oldest age %.3f s; want 2 and %.3f s (the oldest running quarantined execution's wait)", n, age, want)
	})
}
