package workflows

import (
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
)

// withMetrics gives the test's environment the worker's real exporter (as
// the worker's client has it) and returns what it gathers after the run.
func (s *ingestSuite) withMetrics() func() metricstest.Families {
	exp, err := metrics.NewExporter(metrics.WorkerService)
	s.Require().NoError(err)
	s.SetMetricsHandler(exp.TemporalHandler())
	s.SetupTest() // a new environment, with the handler
	return func() metricstest.Families { return metricstest.Gather(s.T(), exp.Registry) }
}

func acme(kv ...string) map[string]string {
	m := map[string]string{metrics.LabelPartner: "acme"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func (s *ingestSuite) TestMetricsCountADeliveryItsBytesAndLatency() {
	gather := s.withMetrics()
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	s.env.SetStartTime(start)
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	in := input()
	in.EventTime = start.Add(-90 * time.Second) // written 90 s before the workflow started
	s.execute(in)
	s.NoError(s.env.GetWorkflowError())

	m := gather()
	v, ok := m.Value(metrics.FilesTotal, acme(metrics.LabelOutcome, metrics.Delivered))
	s.True(ok, "no %s{outcome=delivered}", metrics.FilesTotal)
	s.Equal(1.0, v)
	s.Empty(m.Labels(metrics.FilesTotal, metrics.LabelOutcome)[1:], "only the outcome delivered is counted")
	v, _ = m.Value(metrics.BytesDeliveredTotal, acme())
	s.Equal(15.0, v)
	v, _ = m.Value(metrics.EndToEndLatency, acme())
	s.Equal(1.0, v, "one latency sample")
	s.GreaterOrEqual(m.Sum(metrics.EndToEndLatency, acme()), 90.0)
	s.Less(m.Sum(metrics.EndToEndLatency, acme()), 120.0)
}

func (s *ingestSuite) TestMetricsCountDecisionsByResultAndRefusalClass() {
	gather := s.withMetrics()
	s.refuseThreeThenApprove()
	s.execute(approvalInput(1))
	s.NoError(s.env.GetWorkflowError())

	m := gather()
	for class, want := range map[string]float64{approval.RefusedNotApprover: 1, approval.RefusedUploader: 1, approval.RefusedNoReason: 1} {
		v, _ := m.Value(metrics.DecisionsTotal, acme(metrics.LabelKind, "approve", metrics.LabelResult, "refused", metrics.LabelClass, class))
		s.Equal(want, v, "refused as %s", class)
	}
	v, _ := m.Value(metrics.DecisionsTotal, acme(metrics.LabelKind, "approve", metrics.LabelResult, "accepted", metrics.LabelClass, metrics.None))
	s.Equal(1.0, v)
	for _, outcome := range []string{metrics.Quarantined, metrics.Approved, metrics.Delivered} {
		v, _ := m.Value(metrics.FilesTotal, acme(metrics.LabelOutcome, outcome))
		s.Equal(1.0, v, outcome)
	}
}

func (s *ingestSuite) TestMetricsCountRemindersAndDeadlineRejections() {
	gather := s.withMetrics()
	s.runUntilDeadlineRejects()
	s.NoError(s.env.GetWorkflowError())

	m := gather()
	for name, want := range map[string]float64{metrics.RemindersTotal: 2, metrics.DeadlineRejectionsTotal: 1} {
		v, _ := m.Value(name, acme())
		s.Equal(want, v, name)
	}
	v, _ := m.Value(metrics.FilesTotal, acme(metrics.LabelOutcome, metrics.Rejected))
	s.Equal(1.0, v)
	v, _ = m.Value(metrics.DecisionsTotal, acme(metrics.LabelKind, "reject", metrics.LabelResult, "accepted"))
	s.Equal(1.0, v)
	_, escalated := m.Value(metrics.EscalationsTotal, acme())
	s.False(escalated)
}
