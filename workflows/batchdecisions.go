package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/batch"
)

// handleDecisions takes decisions on the batch as a file takes its own
// (takeDecisions): the same signal and Update names and payloads.
func (b *batchRun) handleDecisions(ctx workflow.Context) error {
	return takeDecisions(ctx, b, &b.taking)
}

func (b *batchRun) approvals() (got, required int) {
	return b.state.Approvals, b.state.RequiredApprovals
}

// judge decides whether a decision on the batch counts, keeps it, and
// sends it to every member, whose audit trail records it (a batch has no
// trail of its own: each file's chain stays the file's). The checks and
// the change of state happen before anything awaits, so two decisions
// cannot both pass the same check.
func (b *batchRun) judge(ctx workflow.Context, p approval.Payload, kind string) (approval.Decision, error) {
	d := approval.Decision{Approver: p.Approver, Reason: p.Reason, Kind: kind, At: workflow.Now(ctx)}
	refusal := b.refusal(p, kind, &d)
	d.Accepted, d.Refusal = refusal == "", refusal
	b.state.Decisions = append(b.state.Decisions, d)
	b.state.Approvals = approval.Approvals(b.state.Decisions)
	if d.Accepted && kind == approval.RejectSignal {
		b.rejected = true
	}
	b.log.Info("decision on the batch judged", "kind", kind, "approver", d.Approver, "accepted", d.Accepted, "refusal", d.Refusal)
	b.show(ctx)
	if b.state.Status == batch.Quarantined {
		for _, m := range b.state.All() {
			b.signal(ctx, m.FileID, batch.DecisionSignal, d)
		}
	}
	return d, nil
}

// decided reports whether the quarantined batch's decision is made.
func (b *batchRun) decided() bool {
	return b.rejected || b.state.Approvals >= b.state.RequiredApprovals
}

// refusal says why a decision on the batch must be refused, or "": the
// file's rules (approval.Policy.Refuse), with every member's uploader
// barred, and a signature bound to the batch's digest.
func (b *batchRun) refusal(p approval.Payload, kind string, d *approval.Decision) string {
	pol := b.in.Approval
	switch {
	case !pol.Enabled():
		return fmt.Sprintf("partner %s has no approvers configured: its quarantined batches cannot be released by signal", b.in.Partner)
	case b.state.Status == batch.Quarantined && b.decided():
		return "the batch has already been decided on"
	}
	if _, why := pol.Refuse(approval.State{Partner: b.in.Partner, Stage: b.state.Status, Decisions: b.state.Decisions}, p, kind); why != "" {
		return strings.Replace(why, "the file is", "the batch is", 1)
	}
	for _, m := range b.state.All() {
		if m.Uploader != "" && strings.EqualFold(strings.TrimSpace(p.Approver), m.Uploader) {
			return fmt.Sprintf("%s uploaded %s of this batch and may not decide on it", p.Approver, m.Name)
		}
	}
	b.state.SHA256 = b.state.Digest()
	_, why := checkSignature(pol, b.in.Partner, b.id, b.state.SHA256, p, kind, d)
	return why
}
