package workflows

import (
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/expect"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/notify"
)

// scheduledStartTime is the time Temporal's schedule meant to start a
// workflow at (for a manual trigger, the trigger's time).
var scheduledStartTime = temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")

// ExpectWindow runs when an expectation's schedule fires (a window
// opens): it works out the occurrence from the schedule's time and starts
// its ExpectFile, unless a file that came first already started it
// (intake signals-with-start the same ID). Its contract is
// internal/expect's.
func ExpectWindow(ctx workflow.Context, in *expect.WindowInput) (string, error) {
	if in == nil || in.Partner == "" || in.Spec.Name == "" {
		return "", temporal.NewNonRetryableApplicationError("invalid ExpectWindow input: Partner and Spec are required", "InvalidInput", nil)
	}
	at, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(scheduledStartTime)
	if !ok {
		at = workflow.Now(ctx)
	}
	// The zone database is the binary's: recorded once, so a worker
	// built with newer zone rules replays the same occurrence.
	type found struct {
		Occurrence expect.Occurrence
		OK         bool
		Err        string
	}
	var f found
	if err := workflow.SideEffect(ctx, func(workflow.Context) any {
		o, ok, err := in.Spec.At(in.Partner, at)
		if err != nil {
			return found{Err: err.Error()}
		}
		return found{Occurrence: o, OK: ok}
	}).Get(&f); err != nil {
		return "", err
	}
	if f.Err != "" || !f.OK {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("expectation %s of %s has no occurrence at %s: %s", in.Spec.Name, in.Partner, at, f.Err), "InvalidInput", nil)
	}
	id := f.Occurrence.ID()
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: id,
		// The occurrence outlives this workflow, which only opens it.
		ParentClosePolicy: enumspb.PARENT_CLOSE_POLICY_ABANDON,
		// One watch per occurrence: a settled one is not watched again.
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		StaticSummary:         fmt.Sprintf("%s: %s by %s", in.Partner, in.Spec.Pattern, f.Occurrence.Deadline.Format(time.RFC3339)),
	})
	var exec workflow.Execution
	err := workflow.ExecuteChildWorkflow(cctx, expect.WorkflowName, &expect.Input{Occurrence: f.Occurrence}).GetChildWorkflowExecution().Get(ctx, &exec)
	if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
		workflow.GetLogger(ctx).Info("occurrence already watched: a file came before its window's schedule fired", "workflow_id", id)
		return id, nil
	}
	if err != nil {
		return "", fmt.Errorf("starting %s: %w", id, err)
	}
	return id, nil
}

// ExpectFile watches one occurrence of an expectation: it waits (durable
// timers) until warn_at, announcing partner.file_late if no matching file
// came, then until the deadline, announcing partner.file_missing, then
// until the next window opens, announcing partner.file_arrived_late for a
// file that comes in that time. Each is recorded in the occurrence's
// hash-chained audit trail (file ID: the workflow ID) and counted. A file
// that comes by the deadline is recorded and ends the watch quietly.
// Times come from the input, computed by internal/expect.
func ExpectFile(ctx workflow.Context, in *expect.Input) (*expect.State, error) {
	if in == nil || in.Occurrence.Partner == "" || in.Occurrence.Expectation == "" || in.Occurrence.Deadline.IsZero() || in.Occurrence.Closes.IsZero() {
		return nil, temporal.NewNonRetryableApplicationError("invalid ExpectFile input: an occurrence with partner, expectation, deadline and end is required", "InvalidInput", nil)
	}
	w := &watch{occ: in.Occurrence, state: expect.State{Occurrence: in.Occurrence, Phase: expect.Waiting}}
	if err := w.setup(ctx); err != nil {
		return nil, err
	}
	return w.run(ctx)
}

// watch is one occurrence's state.
type watch struct {
	occ      expect.Occurrence
	state    expect.State
	prev     *audit.Entry // the trail's last entry, which the next chains to
	arrivals workflow.ReceiveChannel
	log      log.Logger
}

func (w *watch) setup(ctx workflow.Context) error {
	w.log = log.With(workflow.GetLogger(ctx), "partner", w.occ.Partner, "expectation", w.occ.Expectation, "occurrence", w.occ.Date)
	w.arrivals = workflow.GetSignalChannel(ctx, expect.ArrivedSignal)
	return workflow.SetQueryHandler(ctx, expect.StateQuery, func() (expect.State, error) { return w.state, nil })
}

func (w *watch) run(ctx workflow.Context) (*expect.State, error) {
	// The trail may hold entries of an earlier run (Temporal's retention
	// forgot it, a file started a new one): continue it, never repeat it.
	if err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.LastAuditEntryName, w.occ.ID()).Get(ctx, &w.prev); err != nil {
		return nil, fmt.Errorf("reading the trail of %s: %w", w.occ.ID(), err)
	}
	if w.prev != nil {
		if p := expect.PhaseOf(w.prev.Action); p != "" {
			w.state.Phase = p
		}
	}
	if w.state.Phase.Settled() {
		return &w.state, nil
	}
	steps := []struct {
		until time.Time
		then  func(workflow.Context) error
		skip  bool
	}{
		{w.occ.WarnAt, w.late, w.occ.WarnAt.IsZero() || w.state.Phase != expect.Waiting},
		{w.occ.Deadline, w.missing, w.state.Phase == expect.Missing},
		{w.occ.Closes, nil, false},
	}
	for _, s := range steps {
		if s.skip {
			continue
		}
		settled, err := w.waitUntil(ctx, s.until)
		if err != nil || settled {
			return &w.state, err
		}
		if s.then != nil {
			if err := s.then(ctx); err != nil {
				return &w.state, err
			}
		}
	}
	w.log.Info("occurrence closed without its file", "deadline", w.occ.Deadline)
	return &w.state, nil
}

// waitUntil waits for a matching file until t; settled is true when one
// came and ended the watch.
func (w *watch) waitUntil(ctx workflow.Context, t time.Time) (settled bool, err error) {
	for {
		var a expect.Arrival
		if w.arrivals.ReceiveAsync(&a) {
			return true, w.arrived(ctx, a)
		}
		now := workflow.Now(ctx)
		if !now.Before(t) {
			return false, nil
		}
		tctx, cancel := workflow.WithCancel(ctx)
		fired := false
		workflow.NewSelector(ctx).
			AddFuture(workflow.NewTimer(tctx, t.Sub(now)), func(workflow.Future) { fired = true }).
			// The arrival is taken at the top of the loop.
			AddReceive(w.arrivals, func(workflow.ReceiveChannel, bool) {}).
			Select(ctx)
		cancel()
		if fired {
			return false, nil
		}
	}
}

// arrived records a matching file: on time when it was written by the
// deadline and the file was not yet declared missing; otherwise late.
func (w *watch) arrived(ctx workflow.Context, a expect.Arrival) error {
	if a.At.IsZero() {
		a.At = workflow.Now(ctx)
	}
	w.state.Arrival = &a
	if w.state.Phase != expect.Missing && !a.At.After(w.occ.Deadline) {
		w.state.Phase = expect.Arrived
		w.log.Info("expected file arrived", "key", a.Key, "file_id", a.FileID, "at", a.At)
		return w.record(ctx, expect.ActionArrived, &a)
	}
	w.state.Phase = expect.ArrivedLate
	w.log.Warn("expected file arrived late", "key", a.Key, "file_id", a.FileID, "at", a.At, "deadline", w.occ.Deadline)
	if err := w.record(ctx, expect.ActionArrivedLate, &a); err != nil {
		return err
	}
	w.count(ctx, metrics.ExpectationsArrivedLateTotal)
	w.notify(ctx, expect.TypeArrivedLate, fmt.Sprintf("%s arrived at %s, after the deadline %s", a.Key, a.At.UTC().Format(time.RFC3339), w.deadlineText()), &a)
	return nil
}

func (w *watch) late(ctx workflow.Context) error {
	w.state.Phase, w.state.WarnedAt = expect.Late, workflow.Now(ctx)
	w.log.Warn("expected file is late", "warn_at", w.occ.WarnAt, "deadline", w.occ.Deadline)
	if err := w.record(ctx, expect.ActionLate, nil); err != nil {
		return err
	}
	w.count(ctx, metrics.ExpectationsLateTotal)
	w.notify(ctx, expect.TypeLate, fmt.Sprintf("no file matching %s yet; due by %s", w.occ.Pattern, w.deadlineText()), nil)
	return nil
}

func (w *watch) missing(ctx workflow.Context) error {
	w.state.Phase, w.state.MissingAt = expect.Missing, workflow.Now(ctx)
	w.log.Error("expected file is missing", "deadline", w.occ.Deadline)
	if err := w.record(ctx, expect.ActionMissing, nil); err != nil {
		return err
	}
	w.count(ctx, metrics.ExpectationsMissingTotal)
	w.notify(ctx, expect.TypeMissing, fmt.Sprintf("no file matching %s by the deadline %s", w.occ.Pattern, w.deadlineText()), nil)
	return nil
}

func (w *watch) deadlineText() string {
	return w.occ.Deadline.UTC().Format(time.RFC3339) + " (" + w.occ.Date + ", " + w.occ.TimeZone + ")"
}

// record appends the occurrence's next audit entry, before anyone is told.
func (w *watch) record(ctx workflow.Context, action string, a *expect.Arrival) error {
	d := expect.Details{Deadline: w.occ.Deadline, WarnAt: w.occ.WarnAt, Arrival: a}
	e := audit.Next(w.prev, w.occ.ID(), workflow.Now(ctx), "ferry", action, d.String())
	var stored *audit.Entry
	if err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.AppendAuditName, &e).Get(ctx, &stored); err != nil {
		return fmt.Errorf("recording %s of %s: %w", action, w.occ.ID(), err)
	}
	w.prev = stored
	return nil
}

// count adds one to name for the occurrence's partner and expectation
// (both bounded by the config).
func (w *watch) count(ctx workflow.Context, name string) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{
		metrics.LabelPartner: w.occ.Partner, metrics.LabelExpectation: w.occ.Expectation,
	}).Counter(name).Inc(1)
}

// notify announces typ. A notification that cannot be sent is logged and
// counted; what it announces stays recorded.
func (w *watch) notify(ctx workflow.Context, typ, reason string, a *expect.Arrival) {
	ev := notify.Event{
		Type: typ, Partner: w.occ.Partner, Status: string(w.state.Phase), Reasons: []string{reason}, At: workflow.Now(ctx),
		Expectation: w.occ.Expectation, Occurrence: w.occ.Date, Pattern: w.occ.Pattern, Deadline: w.occ.Deadline,
	}
	if a != nil {
		ev.FileID, ev.Bucket, ev.Key, ev.VersionID, ev.Size = a.FileID, a.Bucket, a.Key, a.VersionID, a.Size
	}
	if err := workflow.ExecuteLocalActivity(notifyCtx(ctx), activities.NotifyName, &activities.NotifyInput{Event: ev}).Get(ctx, nil); err != nil {
		w.log.Error("notification failed", "type", typ, "error", err)
		workflow.GetMetricsHandler(ctx).WithTags(map[string]string{metrics.LabelPartner: w.occ.Partner, metrics.LabelType: typ}).
			Counter(metrics.NotificationFailuresTotal).Inc(1)
	}
}
