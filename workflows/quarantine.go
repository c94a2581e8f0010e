package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/metrics"
)

// awaitDecision waits, durably and for as long as it takes, until enough
// approvers released the file or one rejected it — reminding while it
// waits and acting at the deadline when the partner's policy says so. The
// timers are the server's, so restarts of the worker or of Temporal do
// not reset them.
func (w *pipeline) awaitDecision(ctx workflow.Context) error {
	workflow.SetCurrentDetails(ctx, w.details())
	if w.batchOwned {
		// The batch's approvers decide (batch.go); its decisions arrive
		// by signal and end the wait.
		return workflow.Await(ctx, w.decided)
	}
	p := w.in.Approval
	deadline := workflow.Now(ctx).Add(p.Deadline)
	for !w.decided() {
		wait := p.ReminderInterval
		if p.Deadline > 0 && !w.escalated {
			if left := deadline.Sub(workflow.Now(ctx)); wait <= 0 || left < wait {
				wait = left
			}
		}
		if wait <= 0 {
			// No reminder and no deadline left to act on: only a
			// decision ends the wait.
			return workflow.Await(ctx, w.decided)
		}
		if ok, err := workflow.AwaitWithTimeout(ctx, wait, w.decided); err != nil || ok {
			return err
		}
		overdue := p.Deadline > 0 && !w.escalated && !workflow.Now(ctx).Before(deadline)
		switch {
		case overdue && p.OnDeadline == approval.OnDeadlineReject:
			if err := w.rejectAtDeadline(ctx); err != nil {
				return err
			}
		case overdue && p.OnDeadline == approval.OnDeadlineEscalate:
			if err := w.appendAudit(ctx, "ferry", "escalate", fmt.Sprintf("no decision within %s: %s may now decide too", p.Deadline, strings.Join(p.EscalationApprovers, ", "))); err != nil {
				return err
			}
			w.escalated = true
			w.count(ctx, metrics.EscalationsTotal, nil)
			w.notify(ctx, "file.escalated")
			workflow.SetCurrentDetails(ctx, w.details())
		case p.ReminderInterval > 0:
			w.reminders++
			w.count(ctx, metrics.RemindersTotal, nil)
			w.notify(ctx, "file.reminder")
		}
	}
	return nil
}

// rejectAtDeadline records the pipeline's own rejection, taken because
// nobody decided in time. It is judged like any decision, under the same
// lock, so a person's decision arriving at that moment is not lost.
func (w *pipeline) rejectAtDeadline(ctx workflow.Context) error {
	if err := w.trail.Lock(ctx); err != nil {
		return err
	}
	defer w.trail.Unlock()
	if w.decided() {
		return nil // a decision came in while the lock was held
	}
	d := approval.Decision{Approver: "ferry", Kind: approval.RejectSignal, At: workflow.Now(ctx), Accepted: true,
		Reason: fmt.Sprintf("no decision within %s: rejected automatically as partner %s's policy says", w.in.Approval.Deadline, w.in.Partner)}
	if err := w.appendAuditLocked(ctx, d.Approver, "auto-"+d.Kind, d.Reason); err != nil {
		return err
	}
	w.count(ctx, metrics.DeadlineRejectionsTotal, nil)
	w.countDecision(ctx, d, "")
	w.apply(ctx, d)
	return nil
}

// release records who approved the file; delivery follows.
func (w *pipeline) release(ctx workflow.Context) error {
	var who []string
	for _, d := range w.state.Decisions {
		if d.Accepted && d.Kind == approval.ApproveSignal {
			who = append(who, fmt.Sprintf("approved by %s: %s", d.Approver, d.Reason))
		}
	}
	return w.move(ctx, filestatus.Approved, who...)
}

// reject moves the quarantined copy under the rejected prefix, records the
// file as rejected and announces it.
func (w *pipeline) reject(ctx workflow.Context) error {
	d := w.rejected
	var r activities.QuarantineResult
	if err := workflow.ExecuteActivity(deliverCtx(ctx), activities.RejectName, &activities.RejectInput{
		File: w.content, QuarantineBucket: w.state.QuarantineBucket, QuarantineKey: w.state.QuarantineKey,
		QuarantineVer: w.state.QuarantineVersionID, RejectedKey: w.target(w.in.RejectedKey), Size: w.state.Size, SHA256: w.state.SHA256,
		MaxAttempts: deliverMaxAttempts,
	}).Get(ctx, &r); err != nil {
		return failed("moving the rejected file failed", err)
	}
	w.state.QuarantineKey, w.state.QuarantineVersionID = r.Key, r.VersionID
	if err := w.move(ctx, filestatus.Rejected, fmt.Sprintf("rejected by %s: %s", d.Approver, d.Reason)); err != nil {
		return err
	}
	w.notify(ctx, "file.rejected")
	return nil
}
