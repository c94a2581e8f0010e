package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/metrics"
)

// move adds reasons to the file's facts, records the new status with
// everything known so far in DynamoDB (and its audit entry, in the same
// activity), then makes it visible to operators (search attribute,
// current details, status query).
func (w *pipeline) move(ctx workflow.Context, s filestatus.Status, reasons ...string) error {
	if err := w.trail.Lock(ctx); err != nil {
		return err
	}
	defer w.trail.Unlock()
	w.state.Reasons = append(w.state.Reasons, reasons...)
	c := w.change(s)
	e := w.nextAudit(ctx, "ferry", "status:"+string(s), changeDetails(w.recorded, c))
	if err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.RecordStatusName, &activities.RecordStatusInput{
		FileID: w.in.FileID, Change: c, Audit: e,
	}).Get(ctx, nil); err != nil {
		return fmt.Errorf("recording %s as %s: %w", w.in.FileID, s, err)
	}
	w.auditHead, w.recorded = e, c
	w.enter(ctx, s)
	w.countOutcome(ctx, s)
	return nil
}

// nextAudit builds the entry that follows the stored chain. It is pure
// and uses workflow time, so a replay builds the same entry; the head
// moves only once the entry is stored.
func (w *pipeline) nextAudit(ctx workflow.Context, actor, action, details string) *audit.Entry {
	e := audit.Next(w.auditHead, w.in.FileID, workflow.Now(ctx), actor, action, details)
	return &e
}

// appendAudit writes one entry outside a status change.
func (w *pipeline) appendAudit(ctx workflow.Context, actor, action, details string) error {
	if err := w.trail.Lock(ctx); err != nil {
		return err
	}
	defer w.trail.Unlock()
	return w.appendAuditLocked(ctx, actor, action, details)
}

// appendAuditLocked writes the next entry; the caller holds w.trail. The
// write is retried for as long as it takes (recordCtx): the entry is part
// of the record, and dropping it would leave a hole that reads as
// tampering. Only a conflict (another entry under its number) ends it.
func (w *pipeline) appendAuditLocked(ctx workflow.Context, actor, action, details string) error {
	e := w.nextAudit(ctx, actor, action, details)
	if err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.AppendAuditName, e).Get(ctx, nil); err != nil {
		return fmt.Errorf("appending %s to the audit trail of %s: %w", action, w.in.FileID, err)
	}
	w.auditHead = e
	return nil
}

// enter shows the file's new stage to operators.
func (w *pipeline) enter(ctx workflow.Context, s filestatus.Status) {
	w.state.Stage = s
	w.state.History = append(w.state.History, ingest.StageChange{Status: s, At: workflow.Now(ctx)})
	if err := workflow.UpsertTypedSearchAttributes(ctx, ingest.FileStatusAttr.ValueSet(string(s))); err != nil {
		w.log.Warn("could not update FileStatus search attribute", "status", s, "error", err)
	}
	workflow.SetCurrentDetails(ctx, w.details())
}

// waitFor says in the status query and the UI what the file waits for
// ("" when it no longer waits).
func (w *pipeline) waitFor(ctx workflow.Context, what string) {
	w.state.WaitingFor = what
	workflow.SetCurrentDetails(ctx, w.details())
}

// notify announces an outcome, or a reminder or escalation. A
// notification that cannot be sent does not undo what happened: it is
// logged and kept in the reasons.
func (w *pipeline) notify(ctx workflow.Context, typ string) {
	ev := w.event(ctx, typ)
	if err := workflow.ExecuteLocalActivity(notifyCtx(ctx), activities.NotifyName, &activities.NotifyInput{Event: ev}).Get(ctx, nil); err != nil {
		w.log.Error("notification failed", "type", typ, "error", err)
		w.count(ctx, metrics.NotificationFailuresTotal, map[string]string{metrics.LabelType: typ})
		w.state.Reasons = append(w.state.Reasons, "notification "+typ+" failed: "+failureMessage(err))
	}
}
