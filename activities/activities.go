// Package activities holds every step of Ferry's workflows that touches the
// world: S3, DynamoDB and notification webhooks. Activities are methods on
// one struct holding the clients, injected at worker start, so tests build
// it with real local clients.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/clamd"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/logging"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/pgp"
)

// Registered activity names. Workflows call activities by these names so
// that local and regular activities resolve through the worker's registry.
const (
	RecordReceivedName   = "RecordReceived"
	RecordStatusName     = "RecordStatus"
	InspectName          = "Inspect"
	DeliverName          = "Deliver"
	QuarantineName       = "Quarantine"
	HandleSourceName     = "HandleSource"
	FetchSidecarName     = "FetchSidecar"
	RejectName           = "Reject"
	AppendAuditName      = "AppendAudit"
	NotifyName           = "Notify"
	DiscardPlaintextName = "DiscardPlaintext"
	AnchorFileName       = "AnchorFile"
)

// Error types of non-retryable failures. Workflows branch on them and
// list them in retry policies; they are part of the workflow history, so
// never rename one.
const (
	// ErrRuleViolation: the file breaks a partner rule. Retrying reads the
	// same bytes; only a person or a new upload changes the outcome.
	ErrRuleViolation = "RuleViolation"
	// ErrObjectVanished: the object version named by the event no longer exists.
	ErrObjectVanished = "ObjectVanished"
	// ErrChecksumMismatch: the bytes read disagree with the checksum S3
	// stored for them.
	ErrChecksumMismatch = "ChecksumMismatch"
	// ErrDeliveryVerification: the delivered version disagrees with the source.
	ErrDeliveryVerification = "DeliveryVerificationFailed"
	// ErrStatusConflict: the file's record is already past the proposed status.
	ErrStatusConflict = "StatusConflict"
	// ErrAuditConflict: another entry already holds this audit number.
	ErrAuditConflict = "AuditConflict"
	// ErrNotifyRefused: every failed notification target refused the
	// notification itself (a webhook's 4xx, a missing SNS topic).
	ErrNotifyRefused = "NotifyRefused"
	// ErrDestinationRefused: S3 refused the copy as invalid (HTTP 400), for
	// example retention asked of a bucket without Object Lock. Only a
	// configuration change helps.
	ErrDestinationRefused = "DestinationRefused"
	// ErrNotSmall: a local activity of the small-file fast path met a
	// file it must not handle without heartbeats; the workflow handles it
	// with the regular activity.
	ErrNotSmall = "NotSmall"
)

// Activities are Ferry's activities with the clients they use.
type Activities struct {
	S3       *s3.Client
	Files    *filestore.Store
	Audit    *audit.Store
	Notifier *notify.Notifier
	// Metrics times the stages (inspect, deliver, ...); nil times nothing.
	Metrics *metrics.Instruments
	// Scanner is the malware scanner for partners whose rules scan (nil
	// when none is configured); ScanMaxBytes is the most streamed to it.
	Scanner      *clamd.Client
	ScanMaxBytes int64
	// Keyrings hold the PGP keys of the partners whose uploads Ferry
	// decrypts, by partner.
	Keyrings map[string]*pgp.Keyring
	// Batches signals batch workflows (the worker's Temporal client).
	Batches BatchSignaler
	// Anchors is where audit chain heads are anchored (nil: anchoring
	// is off, AnchorFile does nothing).
	Anchors *anchor.Store
}

// timeStage starts timing one attempt of a stage; call what it returns
// when the attempt ends: defer a.timeStage(ctx, f, "inspect")().
func (a *Activities) timeStage(ctx context.Context, f FileRef, stage string) func() {
	start := time.Now()
	return func() { a.Metrics.Stage(ctx, f.Partner, stage, time.Since(start)) }
}

// FileRef names one object version and the file ID (workflow ID) it has.
type FileRef struct {
	FileID    string
	Partner   string
	Bucket    string
	Key       string
	VersionID string
	ETag      string
}

func (f FileRef) logger(ctx context.Context) *slog.Logger {
	l := slog.Default().With(logging.File(f.FileID, f.Partner, f.Bucket, f.Key, f.VersionID)...)
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		l = l.With("workflow_id", info.WorkflowExecution.ID, "activity", info.ActivityType.Name, "attempt", info.Attempt)
	}
	return l
}

// RecordReceivedInput is RecordReceived's input.
type RecordReceivedInput struct {
	File  FileRef
	Size  int64
	RunID string
	// Audit is the file's first audit entry, written with the record.
	Audit *audit.Entry
	// Provenance is who wrote the file and from where, as its event said
	// (nil in histories from before it was recorded).
	Provenance *ingest.Provenance
}

// RecordReceivedResult says whether the file was new.
type RecordReceivedResult struct {
	// AlreadyKnown is true when a record existed (a replayed event or a
	// re-run workflow); Status is then the recorded status.
	AlreadyKnown  bool
	Status        filestatus.Status
	SHA256        string
	DestBucket    string
	DestKey       string
	DestVersionID string
	// AuditHead is the last entry of the file's existing audit trail, which
	// a re-run continues instead of starting a second chain; for SameRun,
	// the trail's first entry, which this run wrote before.
	AuditHead *audit.Entry
	// SameRun is set when the record was written by this very run: its
	// first workflow task ran before and was lost (the worker killed)
	// before Temporal recorded it — on the small-file fast path that task
	// may have taken the file to its outcome. The run goes on as the
	// first did, each step finding what the first wrote, instead of
	// taking the record for another execution's.
	SameRun bool
}

// withProvenance adds what the event said about the file's writer to its record.
func withProvenance(f filestore.File, p *ingest.Provenance) filestore.File {
	if p == nil {
		return f
	}
	f.Principal, f.SourceIP, f.RequestID, f.ProvenanceNote = p.Principal, p.SourceIP, p.RequestID, p.Note
	if !p.EventTime.IsZero() {
		f.EventTime = p.EventTime.UTC().Format(time.RFC3339Nano)
	}
	return f
}

// RecordReceived creates the file's record, or reports the one that exists.
func (a *Activities) RecordReceived(ctx context.Context, in *RecordReceivedInput) (*RecordReceivedResult, error) {
	f := in.File
	got, created, err := a.Files.Receive(ctx, withProvenance(filestore.File{
		FileID: f.FileID, Partner: f.Partner, Bucket: f.Bucket, Key: f.Key,
		VersionID: f.VersionID, ETag: f.ETag, Size: in.Size, WorkflowRunID: in.RunID,
	}, in.Provenance))
	if err != nil {
		return nil, err
	}
	res := &RecordReceivedResult{
		AlreadyKnown: !created, Status: got.Status, SHA256: got.SHA256,
		DestBucket: got.DestBucket, DestKey: got.DestKey, DestVersionID: got.DestVersionID,
		SameRun: !created && in.RunID != "" && got.WorkflowRunID == in.RunID,
	}
	switch {
	case res.SameRun:
		// The chain goes on from the entry this run wrote first, which
		// in.Audit restates (or writes, if the first attempt died before
		// it), so that the steps run again restate theirs.
		f.logger(ctx).Info("file recorded by an earlier attempt of this run; going on from its first entry", "status", got.Status)
	case !created:
		f.logger(ctx).Info("file already recorded", "status", got.Status)
		if a.Audit != nil {
			trail, err := a.Audit.List(ctx, f.FileID)
			if err != nil {
				return nil, err
			}
			if len(trail) > 0 {
				res.AuditHead = &trail[len(trail)-1]
				return res, nil
			}
		}
		// The record was written and its first audit entry was not (the
		// worker died, or DynamoDB went away, between the two writes):
		// write it now, or the trail would start at entry 2.
		f.logger(ctx).Warn("file recorded without its first audit entry; writing it")
	}
	stored, err := a.appendAudit(ctx, in.Audit)
	if err != nil {
		return nil, err
	}
	if !created {
		res.AuditHead = stored
	}
	return res, nil
}

// AppendAudit writes one audit entry and returns the entry the trail
// holds under its number (see appendAudit), which the workflow's next
// entry must chain to.
func (a *Activities) AppendAudit(ctx context.Context, e *audit.Entry) (*audit.Entry, error) {
	return a.appendAudit(ctx, e)
}

// appendAudit writes e and returns what the trail holds under its number:
// e, or the entry an earlier run of the same workflow step wrote there
// (audit.Entry.Restates: the step ran again after its worker died or
// Temporal lost its workflow task, and built the entry anew at another
// time). Anything else under the number is a conflict.
func (a *Activities) appendAudit(ctx context.Context, e *audit.Entry) (*audit.Entry, error) {
	if e == nil || a.Audit == nil {
		return e, nil
	}
	err := a.Audit.Append(ctx, *e)
	var conflict *audit.ConflictError
	if errors.As(err, &conflict) && e.Restates(conflict.Existing) {
		FileRef{FileID: e.FileID, Partner: fileid.Partner(e.FileID)}.logger(ctx).Info("audit entry already written by an earlier run of this step; continuing from it",
			"seq", e.Seq, "action", e.Action, "written_at", conflict.Existing.At)
		return &conflict.Existing, nil
	}
	if errors.As(err, &conflict) {
		// Another entry holds this number: someone wrote into the
		// file's chain. The write is refused for good; the chain is
		// counted as a failed verification, and the file named in the log.
		f := FileRef{FileID: e.FileID, Partner: fileid.Partner(e.FileID)}
		f.logger(ctx).Error("audit trail conflict: an entry under this number already exists with other content",
			"seq", e.Seq, "existing_hash", conflict.Existing.Hash, "proposed_hash", e.Hash, "existing_actor", conflict.Existing.Actor, "existing_action", conflict.Existing.Action)
		a.Metrics.AuditVerificationFailed(ctx, f.Partner)
		return nil, temporal.NewNonRetryableApplicationError(conflict.Error(), ErrAuditConflict, err)
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// takenBefore returns the stored entry when the trail already holds e
// (the same change, chained to the same predecessor), else nil.
func (a *Activities) takenBefore(ctx context.Context, e *audit.Entry) (*audit.Entry, error) {
	if e == nil || a.Audit == nil {
		return nil, nil
	}
	got, ok, err := a.Audit.Get(ctx, e.FileID, e.Seq)
	if err != nil || !ok || !e.Restates(*got) {
		return nil, err
	}
	return got, nil
}

// RecordStatusInput is RecordStatus's input.
type RecordStatusInput struct {
	FileID string
	Change filestore.Change
	// Audit is the audit entry for this change, written after it.
	Audit *audit.Entry
}

// RecordStatusResult is RecordStatus's result.
type RecordStatusResult struct {
	// Audit is the change's entry as the trail holds it: the input's, or
	// the one an earlier run of the same step wrote (see AppendAudit).
	Audit *audit.Entry
}

// RecordStatus moves the file's record to a new status, never backwards,
// then appends the change's audit entry. A retry after the append failed
// moves the record to the status it is already in (filestatus allows it)
// and appends the identical entry again; a second run of the workflow
// step, after the first wrote its entry, finds that entry and returns it.
//
// A record already past the status is refused for good, unless the trail
// holds this very change's entry: then this workflow took the step before
// and went further in a workflow task that Temporal never recorded (a
// server restart while the task's local activities ran, the fault suite
// found), and the step is run again from its start. The stored entry is
// returned and the record left where it is; the steps after it find
// their own work done the same way.
func (a *Activities) RecordStatus(ctx context.Context, in *RecordStatusInput) (*RecordStatusResult, error) {
	err := a.Files.Move(ctx, in.FileID, in.Change)
	var conflict *filestore.StatusConflictError
	if errors.As(err, &conflict) {
		stored, rerr := a.takenBefore(ctx, in.Audit)
		if rerr != nil {
			return nil, rerr
		}
		if stored != nil {
			FileRef{FileID: in.FileID, Partner: fileid.Partner(in.FileID)}.logger(ctx).Info(
				"record already past this status, and the trail holds this change: an earlier run of this workflow task took the step and went further; continuing from the stored entry",
				"proposed", conflict.Proposed, "current", conflict.Current, "seq", stored.Seq)
			return &RecordStatusResult{Audit: stored}, nil
		}
		return nil, temporal.NewNonRetryableApplicationError(conflict.Error(), ErrStatusConflict, err)
	}
	if err != nil {
		return nil, err
	}
	stored, err := a.appendAudit(ctx, in.Audit)
	if err != nil {
		return nil, err
	}
	return &RecordStatusResult{Audit: stored}, nil
}

// NotifyInput is Notify's input.
type NotifyInput struct {
	Event notify.Event
}

// Notify sends the event to every configured target whose route matches.
// When every failed target refused it for good (a webhook's 4xx, a missing
// SNS topic), the error is non-retryable; otherwise the activity is retried
// and sends to every matching target again, which receivers deduplicate
// on the idempotency key.
func (a *Activities) Notify(ctx context.Context, in *NotifyInput) error {
	if a.Notifier == nil || len(a.Notifier.Targets) == 0 {
		return nil
	}
	err := a.Notifier.Send(ctx, in.Event)
	var failed *notify.SendError
	if errors.As(err, &failed) && failed.Permanent() {
		return temporal.NewNonRetryableApplicationError(failed.Error(), ErrNotifyRefused, err)
	}
	if err != nil {
		return fmt.Errorf("notifying about %s: %w", in.Event.FileID, err)
	}
	return nil
}
