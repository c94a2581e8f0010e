package anchor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/schedule"
)

// Contract names: operators trigger the schedule by its ID, the worker
// registers the workflow and activities under these names.
const (
	// WorkflowName is the periodic anchoring workflow (workflows/anchor.go).
	WorkflowName = "AnchorAudit"
	// ScheduleID is the Temporal Schedule that runs it.
	ScheduleID = "ferry-audit-anchor"
	// CheckpointActivityName is Activities.WriteCheckpoint.
	CheckpointActivityName = "WriteCheckpoint"
)

// overlap is how much earlier than the previous checkpoint's end a
// checkpoint looks: records are stamped by whichever worker's clock wrote
// them, and the by-status index shows a change a moment late. A head
// seen twice is anchored once (the per-file object exists).
const overlap = 2 * time.Minute

// defaultLookback is how far back the first checkpoint looks.
const defaultLookback = 24 * time.Hour

// searchBack bounds the listing for the previous checkpoint: a schedule
// stopped for longer starts a new checkpoint chain (its first names no
// previous), which VerifyCheckpoints reports as a gap.
const searchBack = 35 * 24 * time.Hour

// CheckpointInput is WriteCheckpoint's input: nothing yet, as the
// previous checkpoint says where the next one starts. A struct, so fields
// can be added.
type CheckpointInput struct{}

// CheckpointResult says what one checkpoint holds.
type CheckpointResult struct {
	Key          string
	Heads        int
	Since, Until time.Time
	// Previous is the checkpoint this one chains to ("" for the first).
	Previous string
}

// Activities are the anchoring activities of the schedule.
type Activities struct {
	Anchors *Store
	Files   *filestore.Store
	Trails  *audit.Store
	// Lookback is how far back the first checkpoint looks (24h when zero).
	Lookback time.Duration
	Log      *slog.Logger
}

// WriteCheckpoint anchors the head of every chain whose file record
// changed since the previous checkpoint: a per-file anchor for each head
// not anchored yet, then one checkpoint listing them all, chained to the
// previous checkpoint.
func (a *Activities) WriteCheckpoint(ctx context.Context, _ *CheckpointInput) (*CheckpointResult, error) {
	s := a.Anchors
	if s == nil {
		return nil, temporal.NewNonRetryableApplicationError("audit anchoring is off (audit.anchor.bucket is not set) but the "+ScheduleID+" schedule runs: set the bucket, or delete the schedule", "AnchoringOff", nil)
	}
	start := s.now().UTC()
	lookback := a.Lookback
	if lookback <= 0 {
		lookback = defaultLookback
	}
	res := CheckpointResult{Key: CheckpointKey(start), Since: start.Add(-lookback), Until: start}
	prev, err := s.latestCheckpoint(ctx, start.Add(-searchBack))
	if err != nil {
		return nil, err
	}
	var link *Link
	if prev != nil {
		link, res.Previous = &Link{Key: prev.Key, SHA256: prev.SHA256}, prev.Key
		if prev.Err == nil && prev.Opened.Until.After(res.Since) {
			res.Since = prev.Opened.Until.Add(-overlap)
		}
	}
	files, err := a.Files.ListUpdatedSince(ctx, res.Since)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: listing the files changed since %s: %w", res.Since.Format(time.RFC3339), err)
	}
	heads := make([]Head, 0, len(files))
	for i, f := range files {
		heartbeat(ctx, i)
		e, err := a.Trails.Head(ctx, f.FileID)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		if e == nil {
			continue // received a moment ago: its first entry follows
		}
		h := Head{FileID: e.FileID, Seq: e.Seq, Hash: e.Hash}
		if _, err := s.anchorFile(ctx, h, ScheduleID, res.Key); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
		heads = append(heads, h)
	}
	body, err := Seal(Document{Format: 1, Kind: KindCheckpoint, WrittenAt: start, By: ScheduleID, Heads: heads,
		Since: res.Since, Until: res.Until, Previous: link}, s.Key)
	if err != nil {
		return nil, err
	}
	if _, err := s.put(ctx, res.Key, body); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	res.Heads = len(heads)
	a.log().Info("audit: checkpoint anchored", "bucket", s.Bucket, "key", res.Key, "heads", res.Heads,
		"since", res.Since.Format(time.RFC3339), "previous", res.Previous)
	return &res, nil
}

func heartbeat(ctx context.Context, done int) {
	if done%100 == 0 && activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, done)
	}
}

func (a *Activities) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// checkpointKeys lists the checkpoint keys after the one at from, in
// order.
func (s *Store) checkpointKeys(ctx context.Context, from time.Time) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(checkpointsPrefix)}
	if !from.IsZero() {
		in.StartAfter = aws.String(CheckpointKey(from))
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.S3, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the checkpoints in s3://%s: %w", s.Bucket, err)
		}
		for _, o := range page.Contents {
			if _, ok := checkpointTimeOf(aws.ToString(o.Key)); ok {
				keys = append(keys, aws.ToString(o.Key))
			}
		}
	}
	return keys, nil
}

// latestCheckpoint reads the last checkpoint written after from (nil
// when there is none).
func (s *Store) latestCheckpoint(ctx context.Context, from time.Time) (*Stored, error) {
	keys, err := s.checkpointKeys(ctx, from)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	st, err := s.read(ctx, keys[len(keys)-1], "")
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// VerifyCheckpoints reads every checkpoint written after from (all with
// the zero time), in order, and reports each that is not genuine or does
// not name its predecessor (key and SHA-256): a checkpoint removed or
// replaced shows as the next one's broken link. It returns how many it
// read.
func (s *Store) VerifyCheckpoints(ctx context.Context, from time.Time) (n int, problems []Problem, err error) {
	keys, err := s.checkpointKeys(ctx, from)
	if err != nil {
		return 0, nil, err
	}
	var prev *Stored
	for i, k := range keys {
		st, err := s.read(ctx, k, "")
		if err != nil {
			return i, problems, err
		}
		ref := Ref{Key: k, VersionID: st.VersionID, WrittenAt: st.LastModified, Kind: KindCheckpoint, Authentic: st.Opened.Authentic}
		switch l := st.Opened.Previous; {
		case st.Err != nil:
			problems = append(problems, Problem{Anchor: ref, Problem: st.Err.Error()})
		case prev == nil:
			// The first one read: what came before from is not checked.
		case l == nil:
			problems = append(problems, Problem{Anchor: ref, Problem: fmt.Sprintf("it names no previous checkpoint, but %s comes before it: the schedule was stopped for over %s, or the chain was restarted", prev.Key, searchBack)})
		case l.Key != prev.Key:
			problems = append(problems, Problem{Anchor: ref, Problem: fmt.Sprintf("it follows %s, not %s which comes before it: a checkpoint was added or removed between them", l.Key, prev.Key)})
		case l.SHA256 != prev.SHA256:
			problems = append(problems, Problem{Anchor: ref, Problem: fmt.Sprintf("%s has SHA-256 %s, not the %s this one recorded: it was replaced", prev.Key, prev.SHA256, l.SHA256)})
		}
		prev = &st
	}
	return len(keys), problems, nil
}

// EnsureSchedule creates the anchoring schedule, or updates it to the
// current config; every worker may call it at start.
func EnsureSchedule(ctx context.Context, tc client.Client, cfg *config.Config) error {
	every := cfg.Audit.Anchor.Interval
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
	action := &client.ScheduleWorkflowAction{
		ID: ScheduleID, Workflow: WorkflowName, TaskQueue: cfg.Temporal.TaskQueue,
		Args:               []any{&CheckpointInput{}},
		WorkflowRunTimeout: max(every*4, time.Hour),
	}
	// Overlapping runs are skipped: the next checkpoint covers the gap.
	err := schedule.Ensure(ctx, tc.ScheduleClient(), client.ScheduleOptions{
		ID: ScheduleID, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	})
	if err != nil {
		return fmt.Errorf("the audit anchor checkpoints' schedule: %w", err)
	}
	return nil
}

// FromConfig builds the store for cfg's audit.anchor, or nil when
// anchoring is off.
func FromConfig(s3c *s3.Client, cfg *config.Config) *Store {
	a := cfg.Audit.Anchor
	if a.Bucket == "" {
		return nil
	}
	return &Store{S3: s3c, Bucket: a.Bucket, RetentionDays: a.RetentionDays, Key: []byte(a.Key)}
}
