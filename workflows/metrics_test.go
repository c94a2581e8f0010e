package workflows

import (
	"strings"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/rules"
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

// A quarantined file counts once, under the class of its first reason; a
// violation from before classes existed (a replayed or older activity
// result) counts as other, never as a free-text label.
func (s *ingestSuite) TestMetricsCountQuarantinesByTheirFirstReasonsClass() {
	violation := func(classes ...string) func() {
		return func() {
			s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
				temporal.NewNonRetryableApplicationError("breaks rules", activities.ErrRuleViolation, nil, activities.Violation{
					Reasons: []string{"extension .exe is not allowed for this partner", "content is a Windows executable (MZ), not a .exe file"},
					Classes: classes, Result: activities.InspectResult{Size: 15, SHA256: fileSHA},
				}))
		}
	}
	sidecar := func(res *activities.FetchSidecarResult, err error) func() {
		return func() {
			s.inspectOK()
			s.env.OnActivity(activities.FetchSidecarName, mock.Anything, mock.Anything).Return(res, err)
		}
	}
	for _, c := range []struct {
		name   string
		mock   func()
		reason string
	}{
		{"rule classes", violation(rules.ClassExtension, rules.ClassSignature), rules.ClassExtension},
		{"no classes (older result)", violation(), metrics.Other},
		{"unknown class", violation("acme/inbound/tool.exe"), metrics.Other},
		{"sidecar mismatch", sidecar(&activities.FetchSidecarResult{SHA256: strings.Repeat("0", 64)}, nil), rules.ClassSidecarMismatch},
		{"sidecar invalid", sidecar(nil, temporal.NewNonRetryableApplicationError("checksum sidecar is empty", activities.ErrSidecarInvalid, nil)), rules.ClassSidecarInvalid},
	} {
		s.Run(c.name, func() {
			gather := s.withMetrics()
			c.mock()
			s.quarantineOK()
			s.execute(sidecarInput())
			s.NoError(s.env.GetWorkflowError())

			m := gather()
			v, _ := m.Value(metrics.QuarantinedFilesTotal, acme(metrics.LabelReason, c.reason))
			s.Equal(1.0, v, "%s{reason=%s}", metrics.QuarantinedFilesTotal, c.reason)
			s.Equal([]string{c.reason}, m.Labels(metrics.QuarantinedFilesTotal, metrics.LabelReason), "one file, one reason class")
			v, _ = m.Value(metrics.FilesTotal, acme(metrics.LabelOutcome, metrics.Quarantined))
			s.Equal(1.0, v, "%s{outcome=quarantined} counts on as before", metrics.FilesTotal)
		})
	}
}
