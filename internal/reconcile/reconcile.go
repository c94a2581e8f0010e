// Package reconcile holds the reconciler's contract, activity and
// schedule: the safety net that starts ingestion for files whose events
// were lost. The Reconcile workflow (workflows/) walks the partners'
// landing prefixes page by page through the ReconcilePage activity.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/landing"
	"github.com/ferrydata/ferry/internal/s3event"
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
	S3     *s3.Client
	Files  *filestore.Store
	Bridge *bridge.Bridge
}

// Version is one object version listed in landing.
type Version struct {
	Key, VersionID, ETag string
	Size                 int64
	LastModified         time.Time
}

// Object is the version as an event would announce it, for Bridge.Ingest.
func (v Version) Object(bucket, principal, via string) s3event.Object {
	return s3event.Object{
		EventName: "ObjectCreated:Put", EventTime: v.LastModified, Bucket: bucket, Key: v.Key,
		VersionID: v.VersionID, ETag: v.ETag, Size: v.Size, Principal: principal, Via: via,
	}
}

// Page is one page of a landing listing.
type Page struct {
	Versions []Version
	// Truncated says more follow, from the Next markers.
	Truncated                        bool
	NextKeyMarker, NextVersionMarker string
}

// ListPage lists one page of the object versions below prefix (delete
// markers left out), with keys decoded.
func ListPage(ctx context.Context, api *s3.Client, bucket, prefix, keyMarker, versionMarker string) (*Page, error) {
	out, err := api.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix),
		KeyMarker: nonEmpty(keyMarker), VersionIdMarker: nonEmpty(versionMarker), MaxKeys: aws.Int32(500),
		// Keys may hold characters XML 1.0 cannot carry (a partner's key
		// with a control character): ask for them URL-encoded, or one such
		// key would make every listing of the prefix undecodable.
		EncodingType: types.EncodingTypeUrl,
	})
	if err != nil {
		return nil, fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
	}
	var p Page
	for _, v := range out.Versions {
		key, err := url.QueryUnescape(aws.ToString(v.Key))
		if err != nil {
			return nil, fmt.Errorf("decoding listed key %q: %w", aws.ToString(v.Key), err)
		}
		p.Versions = append(p.Versions, Version{Key: key, VersionID: aws.ToString(v.VersionId), ETag: aws.ToString(v.ETag), Size: aws.ToInt64(v.Size), LastModified: aws.ToTime(v.LastModified)})
	}
	if aws.ToBool(out.IsTruncated) {
		next, err := url.QueryUnescape(aws.ToString(out.NextKeyMarker))
		if err != nil {
			return nil, fmt.Errorf("decoding the next key marker: %w", err)
		}
		p.Truncated, p.NextKeyMarker, p.NextVersionMarker = true, next, aws.ToString(out.NextVersionIdMarker)
	}
	return &p, nil
}

// ReconcilePage lists one page of a partner's landing versions and starts
// ingestion for each version without a record.
func (a *Activities) ReconcilePage(ctx context.Context, in *PageInput) (*PageResult, error) {
	page, err := ListPage(ctx, a.S3, in.Bucket, in.Partner+"/"+landing.InboundDir+"/", in.KeyMarker, in.VersionIDMarker)
	if err != nil {
		return nil, err
	}
	res := PageResult{Truncated: page.Truncated, NextKeyMarker: page.NextKeyMarker, NextVersionIDMarker: page.NextVersionMarker}
	for _, v := range page.Versions {
		res.Counts.Listed++
		o := v.Object(in.Bucket, "reconciler", "reconcile")
		id := fileid.WorkflowID(in.Partner, o.Bucket, o.Key, fileid.VersionOrETag(o.VersionID, o.ETag))
		if _, err := a.Files.Get(ctx, id); err == nil {
			res.Counts.Known++
			continue
		} else if !errors.Is(err, filestore.ErrNotFound) {
			return nil, err
		}
		outcome, err := a.Bridge.IngestWhenFree(ctx, o)
		if err != nil {
			return nil, err
		}
		switch {
		case outcome.Ignored != "":
			res.Counts.Ignored++
		case outcome.Accepted:
			res.Counts.Started++
			slog.Warn("reconciler started a file no event had started", "workflow_id", outcome.WorkflowID, "key", o.Key, "version_id", o.VersionID)
		}
	}
	return &res, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
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
	_, err := tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: ScheduleID, Spec: spec, Action: action, Overlap: overlapSkip,
	})
	if errors.Is(err, errAlreadyRunning) {
		h := tc.ScheduleClient().GetHandle(ctx, ScheduleID)
		return h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &spec, action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		}})
	}
	if err != nil {
		return fmt.Errorf("creating the reconcile schedule %s: %w", ScheduleID, err)
	}
	return nil
}
