package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/approval"
)

// decided is what takes decisions: a file's pipeline, or a batch that
// was quarantined as a whole.
type decided interface {
	// judge decides whether a decision counts, keeps it and applies it.
	judge(ctx workflow.Context, p approval.Payload, kind string) (approval.Decision, error)
	// approvals says how many distinct approvers approved so far, and
	// how many the policy in force requires.
	approvals() (got, required int)
}

// takeDecisions registers the approve and reject signals and the decide
// Update, the same for a file and a batch, so `ferry approve` and
// `temporal workflow signal` decide on either alike. Signals are judged
// one at a time in the order they arrive; busy counts the one being
// judged, so the workflow does not close under it. Every decision is
// judged the moment it arrives, against the state then (an approval sent
// before the file is quarantined is refused, not kept for later).
func takeDecisions(ctx workflow.Context, d decided, busy *int) error {
	approveCh := workflow.GetSignalChannel(ctx, approval.ApproveSignal)
	rejectCh := workflow.GetSignalChannel(ctx, approval.RejectSignal)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var p approval.Payload
			var kind string
			sel := workflow.NewSelector(ctx)
			sel.AddReceive(approveCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &p); kind = approval.ApproveSignal })
			sel.AddReceive(rejectCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &p); kind = approval.RejectSignal })
			sel.Select(ctx)
			*busy++
			_, _ = d.judge(ctx, p, kind)
			*busy--
		}
	})
	decide := func(ctx workflow.Context, req approval.DecideRequest) (approval.DecideResult, error) {
		return answer(ctx, d, req)
	}
	return workflow.SetUpdateHandlerWithOptions(ctx, approval.DecideUpdate, decide, workflow.UpdateHandlerOptions{
		// Only requests that are not decisions at all are turned away
		// unrecorded; every real decision, refused or not, is judged and
		// kept by the handler.
		Validator: func(_ workflow.Context, req approval.DecideRequest) error {
			if req.Decision != approval.ApproveSignal && req.Decision != approval.RejectSignal {
				return fmt.Errorf(`decision must be "approve" or "reject", got %q`, req.Decision)
			}
			return nil
		},
	})
}

// answer is the decide Update: the same judgement as a signal, answered.
// A refusal is final, so it is answered as a non-retryable error.
func answer(ctx workflow.Context, d decided, req approval.DecideRequest) (approval.DecideResult, error) {
	dec, err := d.judge(ctx, approval.Payload{Approver: req.Approver, Reason: req.Reason, Signature: req.Signature}, req.Decision)
	if err != nil {
		return approval.DecideResult{}, err
	}
	if !dec.Accepted {
		return approval.DecideResult{}, temporal.NewNonRetryableApplicationError("decision refused: "+dec.Refusal, approval.ErrRefused, nil)
	}
	res := approval.DecideResult{Decision: req.Decision}
	res.Approvals, res.Required = d.approvals()
	switch {
	case req.Decision == approval.RejectSignal:
		res.Outcome = "rejected"
	case res.Approvals >= res.Required:
		res.Outcome = "released"
	default:
		res.Outcome = fmt.Sprintf("waiting for %d more approvals", res.Required-res.Approvals)
	}
	return res, nil
}

// handleDecisions takes the file's decisions (takeDecisions).
func (w *pipeline) handleDecisions(ctx workflow.Context) error {
	return takeDecisions(ctx, w, &w.judging)
}

func (w *pipeline) approvals() (got, required int) {
	return w.state.Approvals, w.in.Approval.Required()
}

// judge decides whether one decision counts, writes it to the audit trail,
// and only then applies it. Judgements are serialized: one that awaits its
// audit write must not let a second message from the same approver pass
// the same checks in the meantime.
func (w *pipeline) judge(ctx workflow.Context, p approval.Payload, kind string) (approval.Decision, error) {
	if err := w.trail.Lock(ctx); err != nil {
		return approval.Decision{}, err
	}
	defer w.trail.Unlock()

	d := approval.Decision{Approver: p.Approver, Reason: p.Reason, Kind: kind, At: workflow.Now(ctx)}
	class, refusal := w.refusal(p, kind, &d)
	d.Accepted, d.Refusal = refusal == "", refusal
	action, details := kind, d.Reason
	if d.Signed {
		details += fmt.Sprintf(" [signed by %s at %s: %s]", d.Approver, d.SignedAt.UTC().Format(time.RFC3339), d.Meaning)
	}
	if !d.Accepted {
		action, details = "refused:"+kind, d.Refusal+" (reason given: "+d.Reason+")"
	}
	actor := d.Approver
	if actor == "" {
		actor = "(anonymous)"
	}
	if err := w.appendAuditLocked(ctx, actor, action, details); err != nil {
		w.log.Error("could not audit a decision; it is refused", "error", err)
		d.Accepted, d.Refusal = false, "the decision could not be written to the audit trail: "+failureMessage(err)
		class = refusedAuditFailed
	}
	w.countDecision(ctx, d, class)
	w.apply(ctx, d)
	return d, nil
}

// apply keeps a judged decision in the file's state.
func (w *pipeline) apply(ctx workflow.Context, d approval.Decision) {
	w.state.Decisions = append(w.state.Decisions, d)
	w.state.Approvals = approval.Approvals(w.state.Decisions)
	if d.Accepted {
		w.log.Info("decision accepted", "kind", d.Kind, "approver", d.Approver, "reason", d.Reason)
		if d.Kind == approval.RejectSignal {
			w.rejected = &d
		}
	} else {
		w.log.Warn("decision refused", "kind", d.Kind, "approver", d.Approver, "refusal", d.Refusal)
	}
	workflow.SetCurrentDetails(ctx, w.details())
}

// Refusal classes of the workflow's own checks, beside approval's.
const (
	refusedNoApprovers  = "no_approvers"
	refusedUnsigned     = "unsigned"
	refusedBadSignature = "bad_signature"
	refusedAuditFailed  = "audit_failed"
	refusedBatch        = "batch"
)

// refusal says why a decision must be refused and the refusal's class
// (a metric label), or "" to accept it. It fills in the manifestation of
// a valid signature.
func (w *pipeline) refusal(p approval.Payload, kind string, d *approval.Decision) (class, why string) {
	switch {
	case w.batchOwned:
		return refusedBatch, fmt.Sprintf("the file is part of batch %s, quarantined as a whole: decide on the batch with `ferry %s --workflow-id %s`",
			w.state.Batch.Folder, kind, w.state.Batch.WorkflowID)
	case !w.policy().Enabled():
		return refusedNoApprovers, fmt.Sprintf("partner %s has no approvers configured: its quarantined files cannot be released by signal", w.in.Partner)
	case w.decided():
		return approval.RefusedAlreadyDecided, "the file has already been decided on"
	}
	if c, r := w.policy().Refuse(approval.State{
		Partner: w.in.Partner, Uploader: w.in.Uploader, Stage: string(w.state.Stage), Decisions: w.state.Decisions,
	}, p, kind); r != "" {
		return c, r
	}
	return w.checkSignature(p, kind, d)
}

// checkSignature verifies a signed decision against the approver's key and
// records its manifestation, or says why the decision must be refused.
func (w *pipeline) checkSignature(p approval.Payload, kind string, d *approval.Decision) (class, why string) {
	return checkSignature(w.policy(), w.in.Partner, w.id, w.state.SHA256, p, kind, d)
}

// checkSignature verifies a decision on workflow id, whose content has the
// SHA-256 sum (a file's, or a batch's digest), under policy pol.
func checkSignature(pol approval.Policy, partner, id, sum string, p approval.Payload, kind string, d *approval.Decision) (class, why string) {
	if p.Signature == nil {
		if pol.RequireSignatures {
			return refusedUnsigned, fmt.Sprintf("partner %s requires signed decisions: sign with `ferry %s --workflow-id %s --approver %s --key ~/.ssh/id_ed25519 --reason \"...\"`",
				partner, kind, id, p.Approver)
		}
		return "", ""
	}
	key := pol.ApproverKeys[p.Approver]
	if key == "" {
		return refusedBadSignature, fmt.Sprintf("the decision is signed but no public key is configured for %s (approval.approver_keys)", p.Approver)
	}
	manifest := approval.Manifest(id, sum, kind, p.Approver, p.Reason, p.Signature.SignedAt)
	if err := approval.VerifySignature(key, manifest, p.Signature); err != nil {
		return refusedBadSignature, err.Error()
	}
	d.Signed, d.SignedAt, d.Meaning = true, p.Signature.SignedAt, approval.Meaning(kind)
	return "", ""
}
