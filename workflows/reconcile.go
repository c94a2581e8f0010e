package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// ReconcileName is the reconciler's workflow type; ReconcileSchedule is the
// ID of the Temporal Schedule that runs it.
const (
	ReconcileName     = "Reconcile"
	ReconcileSchedule = "ferry-reconcile"
	// ReconcilePageName is the activity that handles one listing page
	// (internal/reconcile).
	ReconcilePageName = "ReconcilePage"
)

// ReconcileInput says what to scan, and where a continued run resumes.
type ReconcileInput struct {
	Bucket   string
	Partners []string
	// Cursor is where a continued-as-new run resumes.
	Cursor ReconcileCursor
	// Totals carried across continue-as-new.
	Totals ReconcileCounts
}

// ReconcileCursor points into the listing.
type ReconcileCursor struct {
	PartnerIndex    int
	KeyMarker       string
	VersionIDMarker string
}

// ReconcileCounts says what a run found.
type ReconcileCounts struct {
	Listed  int
	Started int // files no event had started
	Known   int // already recorded or running
	Ignored int // not partner uploads (folder markers, temporary names, ...)
}

// ReconcilePageInput is ReconcilePage's input.
type ReconcilePageInput struct {
	Bucket          string
	Partner         string
	KeyMarker       string
	VersionIDMarker string
}

// ReconcilePageResult is one page's outcome.
type ReconcilePageResult struct {
	Counts              ReconcileCounts
	Truncated           bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// pagesPerRun bounds one run's history; longer listings continue as new.
const pagesPerRun = 200

// Reconcile lists every partner's landing prefix and starts IngestFile for
// each object version that has no record and no workflow: events can be
// lost, files must not be. Starts use the bridge's IDs and policies, so a
// file found here and by an event still gets one workflow.
func Reconcile(ctx workflow.Context, in *ReconcileInput) (*ReconcileCounts, error) {
	if in.Bucket == "" || len(in.Partners) == 0 {
		return nil, temporal.NewNonRetryableApplicationError("invalid Reconcile input: Bucket and Partners are required", "InvalidInput", nil)
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute, MaximumAttempts: 10},
	})
	totals, cur := in.Totals, in.Cursor
	for pages := 0; cur.PartnerIndex < len(in.Partners); pages++ {
		if pages == pagesPerRun {
			return nil, workflow.NewContinueAsNewError(ctx, ReconcileName, &ReconcileInput{Bucket: in.Bucket, Partners: in.Partners, Cursor: cur, Totals: totals})
		}
		var page ReconcilePageResult
		if err := workflow.ExecuteActivity(ctx, ReconcilePageName, &ReconcilePageInput{
			Bucket: in.Bucket, Partner: in.Partners[cur.PartnerIndex], KeyMarker: cur.KeyMarker, VersionIDMarker: cur.VersionIDMarker,
		}).Get(ctx, &page); err != nil {
			return nil, fmt.Errorf("reconciling %s: %w", in.Partners[cur.PartnerIndex], err)
		}
		totals.Listed += page.Counts.Listed
		totals.Started += page.Counts.Started
		totals.Known += page.Counts.Known
		totals.Ignored += page.Counts.Ignored
		if page.Truncated {
			cur.KeyMarker, cur.VersionIDMarker = page.NextKeyMarker, page.NextVersionIDMarker
		} else {
			cur = ReconcileCursor{PartnerIndex: cur.PartnerIndex + 1}
		}
	}
	workflow.GetLogger(ctx).Info("reconciled landing", "listed", totals.Listed, "started", totals.Started, "known", totals.Known, "ignored", totals.Ignored)
	return &totals, nil
}
