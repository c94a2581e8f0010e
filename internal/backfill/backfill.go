// Package backfill starts ingestion for files already in landing: an
// operator's tool for a partner whose files predate Ferry, or whose events
// were lost over a period the reconciler's listing has not reached yet. It
// plans every version through intake with the known-check on, so a file
// that is already known is counted, never started twice, and a dry run
// reports exactly what a real run would do.
package backfill

import (
	"context"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/landing"
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

// Report is the outcome of a backfill: the counts (a dry run counts what
// it would start as Started; a skipped version is Ignored), and beside
// them each skipped version with its reason.
type Report struct {
	Counts  intake.Counts
	Skipped []Skipped
}

// Backfiller holds what a backfill talks to.
type Backfiller struct {
	S3 landing.VersionLister
	// Intake plans and starts; it needs Workflows and Files for the
	// known-check.
	Intake *intake.Intake
}

// List returns every object version below the partner's prefix (all
// pages), oldest first, without delete markers.
func (b *Backfiller) List(ctx context.Context, o Options) ([]landing.Version, error) {
	prefix := landing.PartnerPrefix(o.Partner) + o.Prefix
	var out []landing.Version
	var keyMarker, versionMarker string
	for {
		page, err := landing.ListPage(ctx, b.S3, o.Bucket, prefix, keyMarker, versionMarker)
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
	slices.SortStableFunc(out, func(a, b landing.Version) int { return a.LastModified.Compare(b.LastModified) })
	return out, nil
}

// Run starts ingestion for each candidate, at most o.Rate a second,
// calling progress after each. It stops at the first error that is not
// about one file (Temporal or DynamoDB unreachable), returning the report
// so far: running it again continues where it stopped.
func (b *Backfiller) Run(ctx context.Context, o Options, cands []landing.Version, progress func(done int, c intake.Counts)) (Report, error) {
	var r Report
	lim := rate.NewLimiter(rate.Limit(o.Rate), 1)
	for i, cand := range cands {
		r.Counts.Listed++
		err := b.one(ctx, o, cand, lim, &r)
		if progress != nil {
			progress(i+1, r.Counts)
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

func (b *Backfiller) one(ctx context.Context, o Options, cand landing.Version, lim *rate.Limiter, r *Report) error {
	skip := func(reason string) {
		if !o.DryRun {
			b.Intake.Metrics.Backfilled(ctx, o.Partner, "ignored")
		}
		r.Counts.Add(intake.Ignore)
		r.Skipped = append(r.Skipped, Skipped{Key: cand.Key, VersionID: cand.VersionID, Reason: reason})
	}
	if !o.Since.IsZero() && cand.LastModified.Before(o.Since) {
		skip("last modified " + cand.LastModified.UTC().Format(time.RFC3339) + ", before --since")
		return nil
	}
	p, err := b.Intake.Plan(ctx, cand.Object(o.Bucket, "backfill:"+o.Operator, "backfill"), intake.CheckKnown)
	switch {
	case err != nil:
		return err
	case p.Decision == intake.Ignore:
		skip(p.Reason)
		return nil
	case p.Decision == intake.Start && !o.DryRun:
		// The operator's --rate paces only real starts: known and skipped
		// versions cost no start.
		if err := lim.Wait(ctx); err != nil {
			return err
		}
		if err := b.Intake.StartWhenFree(ctx, p); err != nil {
			return err
		}
	}
	if !o.DryRun {
		b.Intake.Metrics.Backfilled(ctx, o.Partner, map[intake.Decision]string{intake.Start: "started", intake.Known: "known"}[p.Decision])
	}
	r.Counts.Add(p.Decision)
	return nil
}
