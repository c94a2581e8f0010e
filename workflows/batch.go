package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
)

// batchRun is one IngestBatch execution: a folder's files, collected as
// their own workflows report them, released together or quarantined as a
// whole and decided on by the partner's approvers.
type batchRun struct {
	in    *batch.Input
	id    string
	log   log.Logger
	state batch.State
	// ready is Evaluate's answer after the last change.
	ready bool
	// taking counts member reports being answered (a superseded or late
	// member is told at once); the batch ends only when none is.
	taking   int
	members  workflow.ReceiveChannel
	rejected bool
}

// IngestBatch collects the members of one batch folder. Every member's
// IngestFile signals it (batch.MemberSignal, through signal-with-start)
// once its own inspection is done, and waits for the one Verdict this
// workflow sends back (batch.VerdictSignal). The batch is released the
// moment its manifest's list is complete and matches; at its timeout it
// is quarantined as a whole with what is missing or mismatched, and its
// approvers decide on it with the file's signals, Update and rules
// (approve/reject, decide; four eyes, signatures binding the batch's
// digest). Each judged decision goes to every member (DecisionSignal),
// whose audit trail records it and whose release or rejection follows.
func IngestBatch(ctx workflow.Context, in *batch.Input) (*batch.Result, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	if in == nil || in.Partner == "" || in.Folder == "" || in.Settings.Timeout <= 0 {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("invalid IngestBatch input %+v: partner, folder and timeout are required", in), "InvalidInput", nil)
	}
	b := &batchRun{in: in, id: id, state: batch.NewState(in, id),
		log:     log.With(workflow.GetLogger(ctx), "partner", in.Partner, "bucket", in.Bucket, "batch", in.Folder),
		members: workflow.GetSignalChannel(ctx, batch.MemberSignal)}
	b.state.Deadline = workflow.Now(ctx).Add(in.Settings.Timeout)
	if err := workflow.SetQueryHandler(ctx, batch.StatusQuery, func() (batch.State, error) { return b.state, nil }); err != nil {
		return nil, err
	}
	if err := b.handleDecisions(ctx); err != nil {
		return nil, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var m batch.Member
			b.members.Receive(ctx, &m)
			b.taking++
			b.take(ctx, m)
			b.taking--
		}
	})
	b.ready = b.state.Evaluate()
	b.show(ctx)

	complete, err := workflow.AwaitWithTimeout(ctx, in.Settings.Timeout, func() bool { return b.ready })
	if err != nil {
		return nil, err
	}
	if complete {
		b.decide(ctx, batch.Released, filestatus.Delivering)
		b.log.Info("batch released", "members", len(b.state.Members))
		b.tell(ctx, batch.Verdict{Outcome: batch.Release})
	} else {
		b.decide(ctx, batch.Quarantined, filestatus.Quarantined)
		b.log.Warn("batch quarantined: incomplete at its timeout", "reasons", b.state.Reasons)
		b.tell(ctx, batch.Verdict{Outcome: batch.Quarantine, Reasons: b.state.Reasons, DecidedByBatch: in.Approval.Enabled()})
		if in.Approval.Enabled() {
			if err := workflow.Await(ctx, b.decided); err != nil {
				return nil, err
			}
			if b.rejected {
				b.decide(ctx, batch.Rejected, filestatus.Rejected)
			} else {
				b.decide(ctx, batch.Approved, filestatus.Approved)
			}
		}
	}
	// Reports that came in meanwhile are answered before the batch ends;
	// later ones start a batch of their own (activities.JoinBatch).
	if err := workflow.Await(ctx, func() bool {
		return b.members.Len() == 0 && b.taking == 0 && workflow.AllHandlersFinished(ctx)
	}); err != nil {
		return nil, err
	}
	res := &batch.Result{Status: b.state.Status, Reasons: b.state.Reasons}
	for _, m := range b.state.All() {
		res.Members = append(res.Members, m.Name)
	}
	return res, nil
}

// take answers one member's report: a late one (the batch is decided)
// is told so and decided on by itself; otherwise the batch's view takes
// it, and the version it replaces (a re-upload) is told it is superseded.
func (b *batchRun) take(ctx workflow.Context, m batch.Member) {
	if b.state.Status != batch.Collecting {
		for _, x := range b.state.All() {
			if x.FileID == m.FileID {
				return // a duplicate report of a member, already answered
			}
		}
		b.state.Late = append(b.state.Late, m.Name)
		b.log.Warn("member arrived after the batch was decided", "name", m.Name, "file_id", m.FileID, "status", b.state.Status)
		b.signal(ctx, m.FileID, batch.VerdictSignal, b.verdict(batch.Verdict{Outcome: batch.Quarantine, Reasons: []string{
			fmt.Sprintf("batch %s: %s arrived after the batch was %s: it is not part of it, and is decided on by itself", b.in.Folder, m.Name, b.state.Status)}}))
		b.show(ctx)
		return
	}
	prev, changed := b.state.Add(m)
	if !changed {
		return
	}
	b.ready = b.state.Evaluate()
	b.show(ctx)
	if prev != nil {
		b.log.Info("a re-upload replaces a member", "name", m.Name, "file_id", m.FileID, "replaced_file_id", prev.FileID)
		b.signal(ctx, prev.FileID, batch.VerdictSignal, b.verdict(batch.Verdict{Outcome: batch.Superseded, Reasons: []string{
			fmt.Sprintf("batch %s: replaced by a re-upload of %s (version %s, workflow %s) before the batch was decided: this version is not delivered", b.in.Folder, m.Name, m.VersionID, m.FileID)}}))
	}
}

// decide sets the batch's status and shows it.
func (b *batchRun) decide(ctx workflow.Context, status string, fs filestatus.Status) {
	b.state.Status = status
	b.state.SHA256 = b.state.Digest() // what a signed decision binds
	if err := workflow.UpsertTypedSearchAttributes(ctx, ingest.FileStatusAttr.ValueSet(string(fs))); err != nil {
		b.log.Warn("could not update FileStatus search attribute", "status", fs, "error", err)
	}
	b.show(ctx)
}

// tell sends v to every member of the batch.
func (b *batchRun) tell(ctx workflow.Context, v batch.Verdict) {
	v = b.verdict(v)
	for _, m := range b.state.All() {
		b.signal(ctx, m.FileID, batch.VerdictSignal, v)
	}
}

func (b *batchRun) verdict(v batch.Verdict) batch.Verdict {
	v.Folder, v.WorkflowID = b.in.Folder, b.id
	return v
}

// signal sends one signal to a member's workflow. A member that is gone
// (terminated by an operator) cannot be told; that is logged.
func (b *batchRun) signal(ctx workflow.Context, fileID, name string, arg any) {
	if err := workflow.SignalExternalWorkflow(ctx, fileID, "", name, arg).Get(ctx, nil); err != nil {
		b.log.Error("could not signal a member of the batch", "file_id", fileID, "signal", name, "error", err)
	}
}

// show is the batch's "current details" in the Temporal UI.
func (b *batchRun) show(ctx workflow.Context) {
	s := b.state
	d := fmt.Sprintf("**batch %s** · partner `%s` · `s3://%s/%s`", s.Status, s.Partner, s.Bucket, s.Folder)
	for _, m := range s.All() {
		d += fmt.Sprintf("\n\n- `%s` %d bytes, SHA-256 `%s` (%s)", m.Name, m.Size, m.SHA256, m.FileID)
	}
	if s.Status == batch.Collecting {
		d += "\n\nQuarantined as a whole at " + s.Deadline.UTC().Format(time.RFC3339) + " unless complete by then"
	}
	for _, r := range s.Reasons {
		d += "\n\n- " + r
	}
	if s.Status == batch.Quarantined && b.in.Approval.Enabled() {
		d += fmt.Sprintf("\n\n**Waiting for a decision on the whole batch** (%d of %d approvals; approvers: %s): `ferry approve --workflow-id %s --approver <you> --reason \"<why>\"`",
			s.Approvals, s.RequiredApprovals, strings.Join(b.in.Approval.Approvers, ", "), b.id)
	}
	workflow.SetCurrentDetails(ctx, d)
}
