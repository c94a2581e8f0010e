// Package reconcile holds the reconciler's contract, activity and
// schedule: the safety net that starts ingestion for files whose events
// were lost. The Reconcile workflow (workflows/) walks the partners'
// landing prefixes page by page through the ReconcilePage activity, which
// hands every listed version to intake with the known-check on.
package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/landing"
	"github.com/ferrydata/ferry/internal/s3event"
	"github.com/ferrydata/ferry/internal/schedule"
)

// Contract names: operators trigger the schedule by its ID, the worker
// registers the workflow and activity under these names.
const (
	// WorkflowName is the reconciler's workflow type.
	WorkflowName = "Reconcile"
	// ScheduleID is the Temporal Schedule that runs it.
	ScheduleID = "ferry-reconcile"
	// PageActivityName is the activity that handles one listing page
	// (Activities.ReconcilePage).
	PageActivityName = "ReconcilePage"
)

// Input says what to scan, and where a continued run resumes.
type Input struct {
	Bucket   string
	Partners []string
	// Cursor is where a continued-as-new run resumes.
	Cursor Cursor
	// Totals carried across continue-as-new.
	Totals intake.Counts
}

// Cursor points into the listing.
type Cursor struct {
	PartnerIndex    int
	KeyMarker       string
	VersionIDMarker string
}

// PageInput is ReconcilePage's input.
type PageInput struct {
	Bucket          string
	Partner         string
	KeyMarker       string
	VersionIDMarker string
}

// PageResult is one page's outcome.
type PageResult struct {
	Counts              intake.Counts
	Truncated           bool
	NextKeyMarker       string
	NextVersionIDMarker string
}

// Activities are the reconciler's activities.
type Activities struct {
	S3     landing.VersionLister
	Intake *intake.Intake
	// Grace is config's reconcile.grace: a version younger than this is
	// left to its event, which is usually still on its way.
	Grace time.Duration
}

// due reports whether the reconciler should start a version no workflow
// has: only once it is older than the grace an event may take. Started
// sooner, a version whose event was merely late would count as a lost
// event, and the event's own start would race the reconciler's.
func (a *Activities) due(v landing.Version, now time.Time) bool {
	return now.Sub(v.LastModified) >= a.Grace
}

// ReconcilePage lists one page of a partner's landing versions and starts
// ingestion for each version that is not known yet.
func (a *Activities) ReconcilePage(ctx context.Context, in *PageInput) (*PageResult, error) {
	page, err := landing.ListPage(ctx, a.S3, in.Bucket, landing.PartnerPrefix(in.Partner), in.KeyMarker, in.VersionIDMarker)
	if err != nil {
		return nil, err
	}
	res := PageResult{Truncated: page.Truncated, NextKeyMarker: page.NextKeyMarker, NextVersionIDMarker: page.NextVersionMarker}
	now := time.Now()
	var due []s3event.Object
	for _, v := range page.Versions {
		res.Counts.Listed++
		if !a.due(v, now) {
			res.Counts.Deferred++
			continue
		}
		due = append(due, v.Object(in.Bucket, "reconciler", "reconcile"))
	}
	// One batch of record lookups for the page, not one per version.
	plans, err := a.Intake.PlanPage(ctx, due)
	if err != nil {
		return nil, err
	}
	for i, p := range plans {
		// Starting waits at intake's bound and a page holds up to 1,000
		// versions: the heartbeat lets Temporal hand the page to another
		// worker soon after this one dies, instead of after the
		// start-to-close timeout, while the schedule skips every run
		// that would overlap.
		activity.RecordHeartbeat(ctx, i)
		if err := a.Intake.ActWhenFree(ctx, p); err != nil {
			return nil, err
		}
		res.Counts.Add(p.Decision)
		if p.Decision == intake.Start {
			// A lost event: worth an operator's look at the event source.
			a.Intake.Metrics.Reconciled(ctx, p.Partner)
			slog.Warn("reconciler started a file no event had started", "partner", p.Partner, "bucket", in.Bucket,
				"key", p.Object.Key, "version_id", p.Object.VersionID, "workflow_id", p.WorkflowID, "age", now.Sub(p.Object.EventTime).Round(time.Second))
		}
	}
	return &res, nil
}

// EnsureSchedule creates the reconciler's Temporal Schedule, or updates it
// to the current config; every worker may call it at start.
func EnsureSchedule(ctx context.Context, tc client.Client, cfg *config.Config) error {
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: cfg.Reconcile.Interval}}}
	action := &client.ScheduleWorkflowAction{
		ID: ScheduleID, Workflow: WorkflowName, TaskQueue: cfg.Temporal.TaskQueue,
		Args: []any{&Input{Bucket: cfg.Landing.Bucket, Partners: cfg.PartnerNames()}},
		// A run must not outlast the interval by much; the next one resumes.
		WorkflowRunTimeout: max(cfg.Reconcile.Interval*4, time.Hour),
	}
	// Overlapping runs are skipped: one reconciler at a time is enough, and
	// the next interval picks up where a slow run left off.
	err := schedule.Ensure(ctx, tc.ScheduleClient(), client.ScheduleOptions{
		ID: ScheduleID, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if err != nil {
		return fmt.Errorf("the reconciler's schedule: %w", err)
	}
	return nil
}
