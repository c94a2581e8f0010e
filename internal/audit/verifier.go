package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/logging"
	"github.com/ferrydata/ferry/internal/metrics"
)

// Verifier recomputes, in the background, the hash chains of the files
// whose record changed since its last pass, and counts each chain it finds
// broken in metrics.AuditVerificationFailuresTotal, logging the file and
// the break. Where its last complete pass began is kept in the files
// table (Progress), so a restarted worker goes on from there instead of
// reading a day of trails again; without it (or when it is older), the
// first pass looks back Lookback. What it has counted is kept in memory
// only: a break found again after a restart is counted again, once.
//
// The record changes with every status (its updated_at), so a pass checks
// each chain as it grows and once more after its last status change; it
// does not re-read old, finished trails, which `ferry audit --partner`
// verifies in full. Every worker replica runs its own verifier: a broken
// chain is counted by each, once per process.
type Verifier struct {
	Files  *filestore.Store
	Trails *Store
	// Anchors checks each chain against what was anchored outside
	// DynamoDB (internal/anchor); nil checks the chains alone.
	Anchors AnchorChecker
	// Metrics counts broken chains; nil counts nothing.
	Metrics *metrics.Instruments
	// Interval is the time between passes (positive: Run needs it).
	Interval time.Duration
	// Lookback bounds how far back a pass looks: the first pass after a
	// start, and one after passes that could not read everything (24h
	// when zero).
	Lookback time.Duration
	// Progress keeps where the last complete pass began across restarts
	// and replicas (filestore.Store's marks); nil keeps it in memory.
	Progress Progress
	Log      *slog.Logger
	Now      func() time.Time

	// since is where the next pass starts: the start of the last pass
	// that read everything.
	since time.Time
	// verified holds, per file, the record's updated_at at which its
	// chain last verified: the overlap lists a file again that has not
	// changed since, and its chain is not read twice. Files older than
	// the pass's lower bound are dropped from it.
	verified map[string]string
	// counted holds, per file, the break last counted, so a chain that
	// stays broken counts once, and again only if it breaks elsewhere.
	counted map[string]Break
}

// AnchorChecker compares a chain with the heads anchored for it outside
// DynamoDB (internal/anchor.Store): a chain recomputed consistently
// after it was anchored verifies, but no longer matches its anchor.
type AnchorChecker interface {
	// CheckAnchors returns nil when the entries match every anchor of
	// the file (or it has none yet), else where they differ.
	CheckAnchors(ctx context.Context, fileID string, es []Entry) (*Break, error)
}

// Progress stores a named time (filestore.Store).
type Progress interface {
	Mark(ctx context.Context, name string) (time.Time, error)
	SetMark(ctx context.Context, name string, at time.Time) error
}

// ProgressMark names the verifier's progress in Progress: the start of
// the last pass that read every changed trail, by any replica.
const ProgressMark = "audit-verifier"

// overlap is how much earlier than the last pass's start a pass looks:
// records are stamped by the clock of whichever worker wrote them, and the
// by-status index shows a change a moment after it is made.
const overlap = time.Minute

// defaultLookback is Lookback when unset: a worker restarted within a
// day misses no change made before it stopped.
const defaultLookback = 24 * time.Hour

// Run makes a pass at once and then every Interval until ctx ends.
func (v *Verifier) Run(ctx context.Context) {
	t := time.NewTicker(v.Interval)
	defer t.Stop()
	for {
		if _, _, err := v.Pass(ctx); err != nil && ctx.Err() == nil {
			v.log().Warn("audit: verifying the trails of changed files failed; the next pass looks back to the last complete one", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass verifies the chain of every file whose record changed since the
// last complete pass (less overlap; the last Lookback at most) and
// returns how many chains it verified and how many it found broken. A
// chain found broken is counted (once per break) and logged with its
// file ID. Passes must not run concurrently.
func (v *Verifier) Pass(ctx context.Context) (verified, broken int, err error) {
	log := v.log()
	start := v.now()
	if v.since.IsZero() && v.Progress != nil {
		// A replica's complete pass covers this one's start as well.
		at, err := v.Progress.Mark(ctx, ProgressMark)
		if err != nil {
			log.Warn("audit: could not read where the last pass got to; looking back the whole lookback", "error", err)
		}
		v.since = at
	}
	since := v.since.Add(-overlap)
	lookback := v.Lookback
	if lookback <= 0 {
		lookback = defaultLookback
	}
	if earliest := start.Add(-lookback); since.Before(earliest) {
		since = earliest
	}
	files, err := v.Files.ListUpdatedSince(ctx, since)
	if err != nil {
		return 0, 0, fmt.Errorf("audit: listing files changed since %s: %w", since.Format(time.RFC3339), err)
	}
	if v.counted == nil {
		v.counted, v.verified = map[string]Break{}, map[string]string{}
	}
	var unread error
	for _, f := range files {
		if v.verified[f.FileID] == f.UpdatedAt {
			continue // verified as it is now, by the previous pass
		}
		flog := log.With(logging.File(f.FileID, f.Partner, f.Bucket, f.Key, f.VersionID)...)
		es, err := v.Trails.List(ctx, f.FileID)
		if err != nil {
			flog.Warn("audit: could not read the trail to verify it", "error", err)
			unread = err
			continue
		}
		if len(es) == 0 && f.Status == filestatus.Received {
			// The first entry is written just after the record; its
			// next change brings the file into a later pass.
			continue
		}
		verified++
		b := Verify(es)
		if b == nil && v.Anchors != nil {
			if b, err = v.Anchors.CheckAnchors(ctx, f.FileID, es); err != nil {
				flog.Warn("audit: could not read the trail's anchors to check it against them", "error", err)
				unread = err
				continue
			}
		}
		if b == nil {
			v.verified[f.FileID] = f.UpdatedAt
			continue
		}
		broken++
		if last, ok := v.counted[f.FileID]; ok && last == *b {
			continue
		}
		v.counted[f.FileID] = *b
		flog.Error("audit: trail does not verify: it was edited, or entries were removed or rewritten, after they were written or anchored",
			"seq", b.Seq, "problem", b.Problem, "entries", len(es), "status", f.Status)
		v.Metrics.AuditVerificationFailed(ctx, f.Partner)
	}
	if unread != nil {
		return verified, broken, fmt.Errorf("audit: some trails could not be read, e.g.: %w", unread)
	}
	v.since = start
	for id, at := range v.verified {
		// No later pass lists it again unless it changes.
		if t, err := time.Parse(time.RFC3339Nano, at); err != nil || t.Before(since) {
			delete(v.verified, id)
		}
	}
	if v.Progress != nil {
		if err := v.Progress.SetMark(ctx, ProgressMark, start); err != nil {
			log.Warn("audit: could not store where this pass got to; a restarted worker looks back further", "error", err)
		}
	}
	level := slog.LevelInfo
	if verified == 0 {
		level = slog.LevelDebug // nothing changed: no line every pass
	}
	log.Log(ctx, level, "audit: verified the trails of changed files", "since", since.Format(time.RFC3339), "verified", verified, "broken", broken)
	return verified, broken, nil
}

func (v *Verifier) log() *slog.Logger {
	if v.Log != nil {
		return v.Log
	}
	return slog.Default()
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}
