// Package workflows holds Ferry's deterministic workflow code. Nothing here
// reads the clock, the environment, config files or random numbers: what a
// workflow needs travels in its input or comes back from an activity.
package workflows

import (
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/logging"
	"github.com/ferrydata/ferry/internal/pgp"
	"github.com/ferrydata/ferry/internal/rules"
)

// pipeline is one IngestFile execution.
type pipeline struct {
	in  *ingest.Input
	id  string
	log log.Logger
	// state holds the file's facts. The status query answers with it; the
	// result, the record, notifications and the UI's details are all
	// derived from it (views.go), never kept as copies.
	state ingest.FileState
	// insp is what inspection learnt, also when the file broke a rule.
	insp activities.InspectResult
	// rejected is set by an accepted reject decision.
	rejected *approval.Decision
	// escalated is set when the deadline passed and escalation approvers
	// joined.
	escalated bool
	// duplicate is set when an earlier execution already handled the file.
	duplicate bool
	// reminders counts the reminders sent; each has its own idempotency key.
	reminders int
	// trail serializes whatever appends to the file's audit chain: status
	// changes and the judgement of decisions, which run concurrently in
	// signal and update handlers (a judgement checks, awaits its audit
	// write, then acts, and nothing may slip in between).
	trail workflow.Mutex
	// auditHead is the last entry of the chain known to be stored.
	auditHead *audit.Entry
	// recorded is the record as last written, so each audit entry says
	// what its change added.
	recorded filestore.Change
	// judging counts decisions received but not yet judged and on record.
	judging int
	// content is the object whose bytes are delivered: the upload itself,
	// or the plaintext decrypted from it.
	content activities.FileRef
	// sinceRelease is set for executions started since releaseVersion: every
	// patch it stands for applies without a marker of its own.
	sinceRelease bool
	// patched is set for executions started since the small-file fast
	// path (fastpath.go), small while the file takes it.
	patched, small bool
	// batchOwned is set when the file's batch was quarantined as a whole:
	// its approvers decide on the batch, not on the file (batchmember.go).
	batchOwned bool
}

// IngestFile takes one uploaded object version from received to delivered:
// record it, inspect it (one read: rules, SHA-256, stored checksum), check
// the partner's checksum sidecar, quarantine it when it breaks a rule and
// wait for its approvers, copy it server-side to the partner's destination
// and verify the copy, record the outcome and notify.
func IngestFile(ctx workflow.Context, in *ingest.Input) (*ingest.Result, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	if err := in.Validate(id); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	w, err := setup(ctx, id, in)
	if err != nil {
		return nil, err
	}
	res, err := w.run(ctx)
	w.discardPlaintext(ctx)
	// Decisions still being judged finish, and are on record and
	// answered, before the workflow closes.
	if werr := workflow.Await(ctx, func() bool { return w.judging == 0 && workflow.AllHandlersFinished(ctx) }); werr != nil && err == nil {
		err = werr
	}
	w.anchorHead(ctx)
	return res, err
}

// setup builds the execution's state, binds the file's identity to its
// logger and registers the status query and the decision handlers.
func setup(ctx workflow.Context, id string, in *ingest.Input) (*pipeline, error) {
	w := &pipeline{in: in, id: id, trail: workflow.NewMutex(ctx), content: ref(in),
		log: log.With(workflow.GetLogger(ctx), logging.File(in.FileID, in.Partner, in.Bucket, in.Key, in.VersionID)...),
		state: ingest.FileState{
			FileID: in.FileID, Partner: in.Partner, Bucket: in.Bucket, Key: in.Key, VersionID: in.VersionID, Size: in.Size,
			RequiredApprovals: in.Approval.Required(),
		}}
	if err := workflow.SetQueryHandler(ctx, ingest.StatusQuery, func() (ingest.FileState, error) { return w.state, nil }); err != nil {
		return nil, err
	}
	if err := w.handleDecisions(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// run is the pipeline, step by step.
func (w *pipeline) run(ctx workflow.Context) (*ingest.Result, error) {
	w.sinceRelease = workflow.GetVersion(ctx, releaseVersion, workflow.DefaultVersion, 1) >= 1
	w.patched = w.sinceRelease || workflow.GetVersion(ctx, fastPathVersion, workflow.DefaultVersion, 1) >= 1
	if done, err := w.receive(ctx); done || err != nil {
		return w.result(), err
	}
	w.small = w.takesFastPath()
	violations, err := w.inspect(ctx)
	if err == nil && len(violations) == 0 {
		violations, err = w.checkSidecar(ctx)
	}
	if err == nil && w.inBatch(ctx) {
		violations, err = w.awaitBatch(ctx, violations)
	}
	if err != nil {
		return w.fail(ctx, err)
	}
	if len(violations) > 0 {
		if w.in.QuarantineBucket == "" {
			return w.fail(ctx, &failure{reasons: rules.Messages(violations)})
		}
		if err := w.quarantine(ctx, violations); err != nil {
			return w.fail(ctx, err)
		}
		if !w.in.Approval.Enabled() {
			return w.result(), nil // quarantined for good: nobody may release it
		}
		if err := w.awaitDecision(ctx); err != nil {
			return nil, err
		}
		if w.rejected != nil {
			if err := w.reject(ctx); err != nil {
				return w.fail(ctx, err)
			}
			return w.result(), nil
		}
		if err := w.release(ctx); err != nil {
			return w.fail(ctx, err)
		}
	}
	if err := w.deliver(ctx); err != nil {
		return w.fail(ctx, err)
	}
	return w.result(), nil
}

// ref is the upload, as the event named it.
func (w *pipeline) ref() activities.FileRef { return ref(w.in) }

func ref(in *ingest.Input) activities.FileRef {
	return activities.FileRef{FileID: in.FileID, Partner: in.Partner, Bucket: in.Bucket, Key: in.Key, VersionID: in.VersionID, ETag: in.ETag}
}

// target names what the file becomes at key (its destination, quarantine
// or rejected copy): a decrypted upload drops its .pgp, .gpg or .asc.
func (w *pipeline) target(key string) string {
	if w.state.Decryption != nil {
		return pgp.PlainName(key)
	}
	return key
}

// decided reports whether the file's quarantine is over: one accepted
// reject, or enough distinct approvers approved.
func (w *pipeline) decided() bool {
	return w.rejected != nil || w.state.Approvals >= w.in.Approval.Required()
}

// policy is the approval policy in force now.
func (w *pipeline) policy() approval.Policy {
	if w.escalated {
		return w.in.Approval.Escalated()
	}
	return w.in.Approval
}
