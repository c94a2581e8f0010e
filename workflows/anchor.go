package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/anchor"
)

// anchorVersion marks executions that anchor their audit head at the end
// (anchorHead); those started before it replay without the step.
const anchorVersion = "audit-anchor"

// anchorHead anchors the file's audit head once the file's journey is
// over and every decision is on record: the head the workflow stored, as
// its own history knows it, goes into the Object Lock bucket
// (internal/anchor), so a chain recomputed later in DynamoDB no longer
// matches. It is a local activity (one small PutObject), in the workflow
// task that ends the file, so the small-file fast path stays one task.
// An anchor that cannot be written is logged and not retried for long:
// the ferry-audit-anchor schedule's next checkpoint anchors every chain
// whose file changed, this one included.
func (w *pipeline) anchorHead(ctx workflow.Context) {
	// An execution from before releaseVersion asks the patch's version
	// whether or not there is a head, as it always did.
	if (!w.sinceRelease && workflow.GetVersion(ctx, anchorVersion, workflow.DefaultVersion, 1) < 1) || w.auditHead == nil {
		return
	}
	// Also when the workflow is being cancelled: what is on record is
	// worth anchoring.
	ctx, _ = workflow.NewDisconnectedContext(ctx)
	h := w.auditHead
	var res activities.AnchorFileResult
	err := workflow.ExecuteLocalActivity(anchorCtx(ctx), activities.AnchorFileName, &activities.AnchorFileInput{
		Head: anchor.Head{FileID: h.FileID, Seq: h.Seq, Hash: h.Hash},
	}).Get(ctx, &res)
	if err != nil {
		w.log.Warn("anchoring the audit head failed; the next checkpoint of the ferry-audit-anchor schedule anchors it", "seq", h.Seq, "error", err)
		return
	}
	w.log.Info("audit head anchored", "seq", h.Seq, "anchor_key", res.Key)
}

func anchorCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    15 * time.Second,
		ScheduleToCloseTimeout: 2 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    30 * time.Second,
		},
	})
}

// AnchorAudit is the ferry-audit-anchor schedule's workflow: one
// checkpoint of the audit chains that changed since the previous one
// (internal/anchor).
func AnchorAudit(ctx workflow.Context, in *anchor.CheckpointInput) (*anchor.CheckpointResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Reading each changed chain's head and anchoring it: thousands
		// of files take minutes; the heartbeat catches a dead worker.
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute, MaximumAttempts: 10},
	})
	var res anchor.CheckpointResult
	if err := workflow.ExecuteActivity(ctx, anchor.CheckpointActivityName, in).Get(ctx, &res); err != nil {
		return nil, fmt.Errorf("writing the audit checkpoint: %w", err)
	}
	workflow.GetLogger(ctx).Info("audit checkpoint anchored", "key", res.Key, "heads", res.Heads, "previous", res.Previous)
	return &res, nil
}
