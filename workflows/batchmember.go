package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/rules"
)

// batchVersion marks executions of batch members (ingest.Input.Batch):
// they report to their batch and wait for its verdict between inspection
// and quarantine or delivery. GetVersion is asked only for a member, so a
// file of a partner without batches has exactly the commands it had
// before, and every recorded history replays.
const batchVersion = "batch-manifest"

// inBatch reports whether the file is a member of a batch and this
// execution handles it as one.
func (w *pipeline) inBatch(ctx workflow.Context) bool {
	return w.in.Batch != nil && workflow.GetVersion(ctx, batchVersion, workflow.DefaultVersion, 1) >= 1
}

// awaitBatch reports the inspected file to its batch (a manifest with
// what it lists) and waits for the batch's verdict, which it records on
// the file's audit trail. It returns the violations the file is to be
// quarantined for: its own, plus the batch's reasons when the batch is
// quarantined. A version that a re-upload superseded ends as failed,
// not delivered.
func (w *pipeline) awaitBatch(ctx workflow.Context, violations []rules.Reason) ([]rules.Reason, error) {
	b := w.in.Batch
	s := w.state
	m := batch.Member{FileID: w.in.FileID, Name: b.Name, Key: w.in.Key, VersionID: w.in.VersionID, Size: s.Size, SHA256: s.SHA256,
		Uploader: w.in.Uploader, IsManifest: b.Manifest}
	if len(violations) > 0 {
		m.Violations = rules.Messages(violations)
	}
	if b.Manifest && len(violations) == 0 {
		var r activities.ReadManifestResult
		if err := workflow.ExecuteActivity(batchCtx(ctx), activities.ReadManifestName, &activities.ReadManifestInput{File: w.content, Name: b.Name}).Get(ctx, &r); err != nil {
			return nil, failed("reading the batch manifest failed", err)
		}
		m.Manifest, m.ManifestError = r.Manifest, r.Error
	}
	w.state.Batch = &ingest.BatchFacts{WorkflowID: b.WorkflowID, Folder: b.Folder}
	w.waitFor(ctx, fmt.Sprintf("batch `%s` (workflow %s): released when its manifest's files have all arrived and match, quarantined as a whole %s after its first file", b.Folder, b.WorkflowID, b.Settings.Timeout))
	if err := workflow.ExecuteActivity(batchCtx(ctx), activities.JoinBatchName, &activities.JoinBatchInput{
		WorkflowID: b.WorkflowID, Member: m,
		Batch: batch.Input{Partner: w.in.Partner, Bucket: w.in.Bucket, Folder: b.Folder, Settings: b.Settings, Approval: w.in.Approval},
	}).Get(ctx, nil); err != nil {
		return nil, failed("reporting to the batch failed", err)
	}
	var v batch.Verdict
	workflow.GetSignalChannel(ctx, batch.VerdictSignal).Receive(ctx, &v)
	w.waitFor(ctx, "")
	w.state.Batch.Outcome = v.Outcome
	said := "every file of its manifest arrived and matches"
	if len(v.Reasons) > 0 {
		said = strings.Join(v.Reasons, "; ")
	}
	if err := w.appendAudit(ctx, "ferry", "batch:"+v.Outcome, fmt.Sprintf("batch %s (workflow %s): %s", v.Folder, v.WorkflowID, said)); err != nil {
		return nil, err
	}
	w.log.Info("batch verdict", "outcome", v.Outcome, "batch", v.Folder, "reasons", v.Reasons)
	switch v.Outcome {
	case batch.Release:
		return violations, nil
	case batch.Superseded:
		return nil, &failure{reasons: v.Reasons}
	}
	if v.DecidedByBatch {
		w.batchOwned = true
		w.receiveBatchDecisions(ctx)
	}
	own := rules.Messages(violations)
	for _, r := range v.Reasons {
		if !slices.ContainsFunc(own, func(o string) bool { return strings.Contains(r, o) }) {
			violations = append(violations, rules.Reason{Class: rules.ClassBatch, Message: r})
		}
	}
	return violations, nil
}

// receiveBatchDecisions takes the decisions judged by the batch: each is
// recorded on the file's trail, and an accepted one counts for the file
// as its own would.
func (w *pipeline) receiveBatchDecisions(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, batch.DecisionSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var d approval.Decision
			ch.Receive(ctx, &d)
			w.judging++
			w.recordBatchDecision(ctx, d)
			w.judging--
		}
	})
}

func (w *pipeline) recordBatchDecision(ctx workflow.Context, d approval.Decision) {
	if err := w.trail.Lock(ctx); err != nil {
		return
	}
	defer w.trail.Unlock()
	if w.decided() {
		return // the batch's decision is made; it sends no more
	}
	on := fmt.Sprintf(" (decided on batch %s, workflow %s)", w.state.Batch.Folder, w.state.Batch.WorkflowID)
	action, details := "batch:"+d.Kind, d.Reason
	if d.Signed {
		details += fmt.Sprintf(" [signed by %s at %s: %s]", d.Approver, d.SignedAt.UTC().Format(time.RFC3339), d.Meaning)
	}
	if !d.Accepted {
		action, details = "refused:batch:"+d.Kind, d.Refusal+" (reason given: "+d.Reason+")"
	}
	actor := d.Approver
	if actor == "" {
		actor = "(anonymous)"
	}
	if err := w.appendAuditLocked(ctx, actor, action, details+on); err != nil {
		// The batch accepted it and its other members count it: the
		// file follows, and the failure is in the log.
		w.log.Error("could not audit a decision on the batch", "error", err)
	}
	w.apply(ctx, d)
}

// batchCtx runs a member's short steps with its batch: reading the
// manifest, signalling the batch. They are retried while S3 or Temporal
// is unreachable, for as long as inspection waits out an outage.
func batchCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: inspectWaits,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        2 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrObjectVanished},
		},
	})
}
