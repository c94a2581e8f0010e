package workflows

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/expect"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/notify"
)

// labs is "a file matching labs_*.csv by 06:00 Europe/Berlin on weekdays,
// warn at 05:30".
var labs = expect.Spec{Name: "labs", Pattern: "labs_*.csv", Days: []string{"mon", "tue", "wed", "thu", "fri"}, TimeZone: "Europe/Berlin", Deadline: "06:00", WarnAt: "05:30"}

// expectRun is one ExpectFile run in the test environment, with what it
// recorded and sent, each at the environment's (skipped) time.
type expectRun struct {
	t      *testing.T
	env    *testsuite.TestWorkflowEnvironment
	occ    expect.Occurrence
	trail  []audit.Entry
	sent   []notify.Event
	sentAt []time.Time
	gather func() metricstest.Families
}

func newExpectRun(t *testing.T, spec expect.Spec, date string, earlier ...audit.Entry) *expectRun {
	t.Helper()
	occ, ok, err := spec.On("acme", date)
	require.NoError(t, err)
	require.True(t, ok)
	var ts testsuite.WorkflowTestSuite
	exp, err := metrics.NewExporter(metrics.WorkerService)
	require.NoError(t, err)
	ts.SetMetricsHandler(exp.TemporalHandler())
	r := &expectRun{t: t, env: ts.NewTestWorkflowEnvironment(), occ: occ, trail: earlier,
		gather: func() metricstest.Families { return metricstest.Gather(t, exp.Registry) }}
	r.env.RegisterWorkflowWithOptions(ExpectFile, workflow.RegisterOptions{Name: expect.WorkflowName})
	r.env.RegisterActivity(&activities.Activities{})
	r.env.OnActivity(activities.LastAuditEntryName, mock.Anything, mock.Anything).Return(
		func(context.Context, string) (*audit.Entry, error) {
			if len(r.trail) == 0 {
				return nil, nil
			}
			return &r.trail[len(r.trail)-1], nil
		})
	r.env.OnActivity(activities.AppendAuditName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, e *audit.Entry) (*audit.Entry, error) {
			r.trail = append(r.trail, *e)
			return e, nil
		})
	r.env.OnActivity(activities.NotifyName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.NotifyInput) error {
			r.sent, r.sentAt = append(r.sent, in.Event), append(r.sentAt, r.env.Now().UTC())
			return nil
		})
	// The schedule starts the watch when the window opens.
	r.env.SetStartTime(occ.Opens)
	r.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: occ.ID()})
	return r
}

// arriveAt signals a matching file written at t, at t.
func (r *expectRun) arriveAt(t time.Time, key string) {
	r.env.RegisterDelayedCallback(func() {
		r.env.SignalWorkflow(expect.ArrivedSignal, expect.Arrival{FileID: "ingest-acme-" + key, Bucket: "landing", Key: "acme/inbound/" + key, Size: 10, At: t})
	}, t.Sub(r.occ.Opens))
}

func (r *expectRun) run() expect.State {
	r.t.Helper()
	r.env.ExecuteWorkflow(expect.WorkflowName, &expect.Input{Occurrence: r.occ})
	require.True(r.t, r.env.IsWorkflowCompleted())
	require.NoError(r.t, r.env.GetWorkflowError())
	var st expect.State
	require.NoError(r.t, r.env.GetWorkflowResult(&st))
	return st
}

func (r *expectRun) types() []string {
	var ts []string
	for _, ev := range r.sent {
		ts = append(ts, ev.Type)
	}
	return ts
}

func (r *expectRun) actions() []string {
	var as []string
	for _, e := range r.trail {
		as = append(as, e.Action)
	}
	return as
}

func (r *expectRun) counted(name string) float64 {
	v, _ := r.gather().Value(name, map[string]string{metrics.LabelPartner: "acme", metrics.LabelExpectation: "labs"})
	return v
}

func TestExpectedFileInTimeSendsNothing(t *testing.T) {
	r := newExpectRun(t, labs, "2026-03-27")
	r.arriveAt(r.occ.WarnAt.Add(-time.Hour), "labs_0327.csv")
	st := r.run()
	require.Equal(t, expect.Arrived, st.Phase)
	require.Equal(t, "acme/inbound/labs_0327.csv", st.Arrival.Key)
	require.Empty(t, r.sent)
	require.Equal(t, []string{expect.ActionArrived}, r.actions())
	require.Equal(t, r.occ.ID(), r.trail[0].FileID, "the occurrence's own trail")
	require.Nil(t, audit.Verify(r.trail))
	require.Zero(t, r.counted(metrics.ExpectationsLateTotal))
}

func TestExpectedFileThatNeverComesIsLateThenMissing(t *testing.T) {
	r := newExpectRun(t, labs, "2026-03-27")
	st := r.run()
	require.Equal(t, expect.Missing, st.Phase)
	require.Equal(t, []string{expect.TypeLate, expect.TypeMissing}, r.types())
	require.Equal(t, []time.Time{r.occ.WarnAt, r.occ.Deadline}, r.sentAt, "warned at 05:30, missing at 06:00 Berlin time")
	require.Equal(t, time.Date(2026, 3, 27, 4, 30, 0, 0, time.UTC), r.sentAt[0])
	missing := r.sent[1]
	require.Equal(t, "acme/labs/2026-03-27/partner.file_missing", missing.IdempotencyKey())
	require.Equal(t, "labs", missing.Expectation)
	require.Equal(t, r.occ.Deadline, missing.Deadline)
	require.Equal(t, []string{expect.ActionLate, expect.ActionMissing}, r.actions())
	require.Nil(t, audit.Verify(r.trail))
	// It stays open until Monday's window opens, then ends.
	require.Equal(t, r.occ.Closes, r.env.Now().UTC())
	require.Equal(t, 1.0, r.counted(metrics.ExpectationsLateTotal))
	require.Equal(t, 1.0, r.counted(metrics.ExpectationsMissingTotal))
	require.Zero(t, r.counted(metrics.ExpectationsArrivedLateTotal))
}

func TestExpectedFileThatComesLateClosesTheGap(t *testing.T) {
	r := newExpectRun(t, labs, "2026-03-27")
	lateAt := r.occ.Deadline.Add(3 * time.Hour)
	r.arriveAt(lateAt, "labs_0327.csv")
	st := r.run()
	require.Equal(t, expect.ArrivedLate, st.Phase)
	require.Equal(t, []string{expect.TypeLate, expect.TypeMissing, expect.TypeArrivedLate}, r.types())
	arrived := r.sent[2]
	require.Equal(t, "acme/inbound/labs_0327.csv", arrived.Key)
	require.Equal(t, "ingest-acme-labs_0327.csv", arrived.FileID)
	require.Equal(t, "acme/labs/2026-03-27/partner.file_arrived_late", arrived.IdempotencyKey())
	require.Equal(t, lateAt, r.sentAt[2], "announced when it came, not at the end of the late period")
	require.Equal(t, []string{expect.ActionLate, expect.ActionMissing, expect.ActionArrivedLate}, r.actions())
	require.Nil(t, audit.Verify(r.trail))
	phase, arrival, _ := expect.FromTrail(r.trail)
	require.Equal(t, expect.ArrivedLate, phase)
	require.Equal(t, "acme/inbound/labs_0327.csv", arrival.Key)
	require.Equal(t, 1.0, r.counted(metrics.ExpectationsArrivedLateTotal))
}

func TestExpectedFileAfterTheWarningIsInTime(t *testing.T) {
	r := newExpectRun(t, labs, "2026-03-27")
	r.arriveAt(r.occ.WarnAt.Add(10*time.Minute), "labs_0327.csv")
	st := r.run()
	require.Equal(t, expect.Arrived, st.Phase)
	require.Equal(t, []string{expect.TypeLate}, r.types(), "warned, then no more")
	require.Equal(t, []string{expect.ActionLate, expect.ActionArrived}, r.actions())
}

func TestExpectationWithoutWarningIsOnlyMissing(t *testing.T) {
	spec := labs
	spec.WarnAt = ""
	r := newExpectRun(t, spec, "2026-03-27")
	st := r.run()
	require.Equal(t, expect.Missing, st.Phase)
	require.Equal(t, []string{expect.TypeMissing}, r.types())
	require.Equal(t, []time.Time{r.occ.Deadline}, r.sentAt)
}

// A file written in time but announced after the deadline was declared
// (its event was lost; the reconciler found it) is arrived late: the
// missing notification went out and is not taken back.
func TestFileFoundAfterMissingWasDeclaredIsArrivedLate(t *testing.T) {
	r := newExpectRun(t, labs, "2026-03-27")
	r.env.RegisterDelayedCallback(func() {
		r.env.SignalWorkflow(expect.ArrivedSignal, expect.Arrival{Key: "acme/inbound/labs_0327.csv", At: r.occ.Deadline.Add(-time.Minute)})
	}, r.occ.Deadline.Add(time.Hour).Sub(r.occ.Opens))
	st := r.run()
	require.Equal(t, expect.ArrivedLate, st.Phase)
	require.Equal(t, []string{expect.TypeLate, expect.TypeMissing, expect.TypeArrivedLate}, r.types())
}

// A new run for an occurrence already settled (Temporal forgot the first,
// a file started another) repeats nothing.
func TestSettledOccurrenceIsNotWatchedAgain(t *testing.T) {
	occ, _, _ := labs.On("acme", "2026-03-27")
	earlier := audit.Next(nil, occ.ID(), occ.Opens.Add(time.Hour), "ferry", expect.ActionArrived, "{}")
	r := newExpectRun(t, labs, "2026-03-27", earlier)
	st := r.run()
	require.Equal(t, expect.Arrived, st.Phase)
	require.Empty(t, r.sent)
	require.Len(t, r.trail, 1)
}

// One already declared missing goes on from there: no second warning.
func TestMissingOccurrenceContinuesFromItsTrail(t *testing.T) {
	occ, _, _ := labs.On("acme", "2026-03-27")
	late := audit.Next(nil, occ.ID(), occ.WarnAt, "ferry", expect.ActionLate, "{}")
	missing := audit.Next(&late, occ.ID(), occ.Deadline, "ferry", expect.ActionMissing, "{}")
	r := newExpectRun(t, labs, "2026-03-27", late, missing)
	r.arriveAt(occ.Deadline.Add(time.Hour), "labs_0327.csv")
	st := r.run()
	require.Equal(t, expect.ArrivedLate, st.Phase)
	require.Equal(t, []string{expect.TypeArrivedLate}, r.types())
	require.Nil(t, audit.Verify(r.trail), "the new entry chains to the earlier run's")
}

func TestStateQueryWhileWaiting(t *testing.T) {
	r := newExpectRun(t, labs, "2026-03-27")
	var mid expect.State
	r.env.RegisterDelayedCallback(func() {
		v, err := r.env.QueryWorkflow(expect.StateQuery)
		require.NoError(t, err)
		require.NoError(t, v.Get(&mid))
	}, r.occ.WarnAt.Add(time.Minute).Sub(r.occ.Opens))
	r.run()
	require.Equal(t, expect.Late, mid.Phase)
	require.Equal(t, r.occ.WarnAt, mid.WarnedAt)
}

// The window's schedule starts the occurrence of its day under the
// occurrence's ID; one a file already started is left alone.
func TestExpectWindowStartsTheDaysOccurrence(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(ExpectWindow, workflow.RegisterOptions{Name: expect.WindowWorkflowName})
	var got *expect.Input
	env.RegisterWorkflowWithOptions(func(_ workflow.Context, in *expect.Input) (*expect.State, error) {
		got = in
		return &expect.State{}, nil
	}, workflow.RegisterOptions{Name: expect.WorkflowName})
	occ, _, _ := labs.On("acme", "2026-03-27")
	env.SetStartTime(occ.Opens)
	env.ExecuteWorkflow(expect.WindowWorkflowName, &expect.WindowInput{Partner: "acme", Spec: labs})
	require.NoError(t, env.GetWorkflowError())
	var id string
	require.NoError(t, env.GetWorkflowResult(&id))
	require.Equal(t, "expect-acme-labs-2026-03-27", id)
	require.NotNil(t, got)
	require.Equal(t, occ, got.Occurrence)
}
