// Package backfill starts ingestion for files already in landing: an
// operator's tool for a partner whose files predate Ferry, or whose events
// were lost over a period the reconciler's listing has not reached yet. It
// starts in the same workflow ID space as live events, so a file that is
// already known is counted, never started twice.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/time/rate"

	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/landing"
	"github.com/ferrydata/ferry/internal/reconcile"
)

// Options say what to backfill.
type Options struct {
	Bucket  string
	Partner string
	// Prefix narrows the listing below <partner>/inbound/.
	Prefix string
	// Since, when set, skips versions last modified before it.
	Since time.Time
	// Rate is the most starts per second.
	Rate float64
	// DryRun lists and counts without starting anything.
	DryRun bool
	// Operator is recorded as the principal of the started files.
	Operator string
}

// Skipped is one listed version that will not be ingested, and why.
type Skipped struct {
	Key, VersionID, Reason string
}

// Counts is the outcome of a backfill.
type Counts struct {
	Listed  int
	Started int
	// Known versions already had a workflow or a record.
	Known   int
	Skipped []Skipped
}

// Backfiller holds what a backfill talks to.
type Backfiller struct {
	S3     *s3.Client
	Files  *filestore.Store
	Bridge *bridge.Bridge
	// Known reports whether a workflow with this ID exists (running or
	// closed within Temporal's retention).
	Known func(ctx context.Context, workflowID string) (bool, error)
}

// List returns every object version below the partner's prefix (all
// pages), oldest first, without delete markers.
func (b *Backfiller) List(ctx context.Context, o Options) ([]reconcile.Version, error) {
	prefix := o.Partner + "/" + landing.InboundDir + "/" + o.Prefix
	var out []reconcile.Version
	var keyMarker, versionMarker string
	for {
		page, err := reconcile.ListPage(ctx, b.S3, o.Bucket, prefix, keyMarker, versionMarker)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Versions...)
		if !page.Truncated {
			break
		}
		keyMarker, versionMarker = page.NextKeyMarker, page.NextVersionMarker
	}
	// Oldest first: files are delivered in the order partners sent them.
	slices.SortStableFunc(out, func(a, b reconcile.Version) int { return a.LastModified.Compare(b.LastModified) })
	return out, nil
}

// Run starts ingestion for each candidate, at most o.Rate a second,
// calling progress after each. It stops at the first error that is not
// about one file (Temporal or DynamoDB unreachable), returning the counts
// so far: running it again continues where it stopped.
func (b *Backfiller) Run(ctx context.Context, o Options, cands []reconcile.Version, progress func(done int, c Counts)) (Counts, error) {
	var c Counts
	lim := rate.NewLimiter(rate.Limit(o.Rate), 1)
	for i, cand := range cands {
		c.Listed++
		err := b.one(ctx, o, cand, lim, &c)
		if progress != nil {
			progress(i+1, c)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

func (b *Backfiller) one(ctx context.Context, o Options, cand reconcile.Version, lim *rate.Limiter, c *Counts) error {
	skip := func(reason string) {
		c.Skipped = append(c.Skipped, Skipped{Key: cand.Key, VersionID: cand.VersionID, Reason: reason})
	}
	if !o.Since.IsZero() && cand.LastModified.Before(o.Since) {
		skip("last modified " + cand.LastModified.UTC().Format(time.RFC3339) + ", before --since")
		return nil
	}
	id := fileid.WorkflowID(o.Partner, o.Bucket, cand.Key, fileid.VersionOrETag(cand.VersionID, cand.ETag))
	known, err := b.Known(ctx, id)
	if err != nil {
		return fmt.Errorf("looking up workflow %s: %w", id, err)
	}
	if !known {
		// Temporal's retention may have removed a long-finished workflow;
		// the record in DynamoDB outlives it.
		if _, err := b.Files.Get(ctx, id); err == nil {
			known = true
		} else if !errors.Is(err, filestore.ErrNotFound) {
			return err
		}
	}
	if known {
		c.Known++
		return nil
	}
	obj := cand.Object(o.Bucket, "backfill:"+o.Operator, "backfill")
	if o.DryRun {
		// Route only, so a dry run reports the same skips as a real one.
		if _, err := b.Bridge.Router().Route(cand.Key, cand.Size); err != nil {
			skip(err.Error())
		} else {
			c.Started++
		}
		return nil
	}
	if err := lim.Wait(ctx); err != nil {
		return err
	}
	out, err := b.Bridge.IngestWhenFree(ctx, obj)
	switch {
	case err != nil:
		return err
	case out.Ignored != "":
		skip(out.Ignored)
	default:
		c.Started++
	}
	return nil
}
