package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/reconcile"
)

// pagesPerRun bounds one run's history; longer listings continue as new.
const pagesPerRun = 200

// Reconcile lists every partner's landing prefix and starts IngestFile for
// each object version that has no record and no workflow: events can be
// lost, files must not be. Its contract (names, input, page activity) is
// internal/reconcile's; starts go through internal/intake, with the
// bridge's IDs and policies, so a file found here and by an event still
// gets one workflow.
func Reconcile(ctx workflow.Context, in *reconcile.Input) (*intake.Counts, error) {
	if in.Bucket == "" || len(in.Partners) == 0 {
		return nil, temporal.NewNonRetryableApplicationError("invalid Reconcile input: Bucket and Partners are required", "InvalidInput", nil)
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		// A killed worker's page is retried 30 s later, not 5 minutes:
		// the schedule skips every run while this one is open.
		HeartbeatTimeout: 30 * time.Second,
		RetryPolicy:      &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	totals, cur := in.Totals, in.Cursor
	for pages := 0; cur.PartnerIndex < len(in.Partners); pages++ {
		if pages == pagesPerRun {
			return nil, workflow.NewContinueAsNewError(ctx, reconcile.WorkflowName, &reconcile.Input{Bucket: in.Bucket, Partners: in.Partners, Cursor: cur, Totals: totals})
		}
		var page reconcile.PageResult
		if err := workflow.ExecuteActivity(ctx, reconcile.PageActivityName, &reconcile.PageInput{
			Bucket: in.Bucket, Partner: in.Partners[cur.PartnerIndex], KeyMarker: cur.KeyMarker, VersionIDMarker: cur.VersionIDMarker,
		}).Get(ctx, &page); err != nil {
			return nil, fmt.Errorf("reconciling %s: %w", in.Partners[cur.PartnerIndex], err)
		}
		totals.AddCounts(page.Counts)
		if page.Truncated {
			cur.KeyMarker, cur.VersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
		} else {
			cur = reconcile.Cursor{PartnerIndex: cur.PartnerIndex + 1}
		}
	}
	workflow.GetLogger(ctx).Info("reconciled landing", "listed", totals.Listed, "started", totals.Started, "known", totals.Known, "ignored", totals.Ignored, "deferred", totals.Deferred)
	return &totals, nil
}
