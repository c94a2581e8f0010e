package workflows

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"golang.org/x/crypto/ssh"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/filestatus"
)

func approvalInput(required int) *ingest.Input {
	in := input()
	in.QuarantineBucket, in.QuarantineKey, in.RejectedKey = "quarantine", "acme/orders.csv", "rejected/acme/orders.csv"
	in.Approval = approval.Policy{Approvers: []string{"alice", "bob"}, RequiredApprovals: required}
	in.Uploader = "acme"
	return in
}

// violationAfterRead quarantines the file with what the read learnt.
func (s *ingestSuite) violationAfterRead() {
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError("content is a Windows executable (MZ), not a .csv file", activities.ErrRuleViolation, nil,
			activities.Violation{Reasons: []string{"content is a Windows executable (MZ), not a .csv file"}, Result: activities.InspectResult{Size: 15, SHA256: fileSHA}}))
}

func (s *ingestSuite) signal(after time.Duration, kind, approver, reason string) {
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(kind, approval.Payload{Approver: approver, Reason: reason})
	}, after)
}

func (s *ingestSuite) decisions() []approval.Decision {
	var st ingest.FileState
	q, err := s.env.QueryWorkflow(ingest.StatusQuery)
	s.Require().NoError(err)
	s.Require().NoError(q.Get(&st))
	return st.Decisions
}

func (s *ingestSuite) TestApprovalReleasesAQuarantinedFile() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.MatchedBy(func(in *activities.DeliverInput) bool {
		return in.Inspection.SHA256 == fileSHA // verified against what was read
	})).Return(&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1"}, nil).Once()
	s.signal(time.Hour, approval.ApproveSignal, "alice", "checked with the partner: a renamed installer they need")
	s.execute(approvalInput(1))

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Quarantined, filestatus.Approved, filestatus.Delivering, filestatus.Delivered}, s.moves)
	s.Equal([]string{"file.quarantined", "file.delivered"}, s.notified)
	s.Require().Len(res.Decisions, 1)
	s.True(res.Decisions[0].Accepted)
	s.Equal("alice", res.Decisions[0].Approver)
}

// refuseThreeThenApprove sends three decisions that are refused (not an
// approver, the uploader, no reason), then one that releases the file.
func (s *ingestSuite) refuseThreeThenApprove() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	s.signal(time.Minute, approval.ApproveSignal, "eve", "trust me")
	s.signal(2*time.Minute, approval.ApproveSignal, "acme", "it is mine")
	s.signal(3*time.Minute, approval.ApproveSignal, "alice", "")
	s.signal(5*time.Minute, approval.ApproveSignal, "alice", "checked")
}

func (s *ingestSuite) TestRefusedDecisionsLeaveTheFileWaiting() {
	s.refuseThreeThenApprove()
	// After three refusals the file must still be quarantined.
	s.env.RegisterDelayedCallback(func() {
		var st ingest.FileState
		q, err := s.env.QueryWorkflow(ingest.StatusQuery)
		s.Require().NoError(err)
		s.Require().NoError(q.Get(&st))
		s.Equal(filestatus.Quarantined, st.Stage)
		s.Len(st.Decisions, 3)
	}, 4*time.Minute)
	s.execute(approvalInput(1))

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Require().Len(res.Decisions, 4)
	for i, want := range []string{"eve is not an approver for partner acme", "acme uploaded this file", "no reason given", ""} {
		s.Equal(want == "", res.Decisions[i].Accepted, "decision %d", i)
		s.Contains(res.Decisions[i].Refusal, want)
	}
}

func (s *ingestSuite) TestRejectMovesTheFileAndEndsIt() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.RejectName, mock.Anything, mock.MatchedBy(func(in *activities.RejectInput) bool {
		return in.QuarantineKey == "acme/orders.csv" && in.QuarantineVer == "qv1" && in.RejectedKey == "rejected/acme/orders.csv"
	})).Return(&activities.QuarantineResult{Bucket: "quarantine", Key: "rejected/acme/orders.csv", VersionID: "rv1"}, nil).Once()
	s.signal(time.Hour, approval.RejectSignal, "bob", "the partner confirmed it was sent by mistake")
	s.signal(2*time.Hour, approval.ApproveSignal, "alice", "too late") // after the end: never judged
	s.execute(approvalInput(1))

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Rejected, res.Status)
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Quarantined, filestatus.Rejected}, s.moves)
	s.Equal([]string{"file.quarantined", "file.rejected"}, s.notified)
	s.Contains(res.Reasons, "rejected by bob: the partner confirmed it was sent by mistake")
}

func (s *ingestSuite) TestFourEyesNeedsTwoDistinctApprovers() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil).Once()
	s.signal(time.Minute, approval.ApproveSignal, "alice", "looks right")
	s.signal(2*time.Minute, approval.ApproveSignal, "alice", "really")
	s.env.RegisterDelayedCallback(func() {
		d := s.decisions()
		s.Len(d, 2)
		s.Contains(d[1].Refusal, "alice already decided")
	}, 3*time.Minute)
	s.signal(4*time.Minute, approval.ApproveSignal, "bob", "agreed")
	s.execute(approvalInput(2))

	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal(2, approval.Approvals(res.Decisions))
}

func (s *ingestSuite) TestDecisionBeforeQuarantineIsRefused() {
	calls := 0
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).After(10 * time.Minute).Return(
		func(context.Context, *activities.InspectInput) (*activities.InspectResult, error) {
			calls++
			return nil, temporal.NewNonRetryableApplicationError("extension .exe is not allowed", activities.ErrRuleViolation, nil,
				activities.Violation{Reasons: []string{"extension .exe is not allowed"}, Result: activities.InspectResult{Size: 15, SHA256: fileSHA}})
		})
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.MatchedBy(func(in *activities.DeliverInput) bool {
		return in.Inspection.SHA256 == fileSHA
	})).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil).Once()
	s.signal(time.Minute, approval.ApproveSignal, "alice", "pre-approving") // while inspecting
	s.signal(time.Hour, approval.ApproveSignal, "bob", "checked")
	s.execute(approvalInput(1))

	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Require().Len(res.Decisions, 2)
	s.False(res.Decisions[0].Accepted)
	s.Contains(res.Decisions[0].Refusal, "the file is inspecting, not quarantined")
	// The file was read once, at inspection; release does not read again.
	s.Equal(1, calls)
}

func (s *ingestSuite) TestNoApproversMeansQuarantineEndsTheWorkflow() {
	s.violationAfterRead()
	s.quarantineOK()
	in := approvalInput(1)
	in.Approval = approval.Policy{}
	s.execute(in)
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Quarantined, res.Status)
}

type updateResult struct {
	res  approval.DecideResult
	err  error
	done bool
}

func (s *ingestSuite) update(after time.Duration, req approval.DecideRequest, out *updateResult) {
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(approval.DecideUpdate, "", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { out.err, out.done = err, true },
			OnAccept: func() {},
			OnComplete: func(v any, err error) {
				out.err, out.done = err, true
				if r, ok := v.(approval.DecideResult); ok {
					out.res = r
				}
			},
		}, req)
	}, after)
}

func (s *ingestSuite) TestDecideUpdateAnswersRefusalsWithAnError() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	var bad, refused, first, second updateResult
	s.update(time.Minute, approval.DecideRequest{Approver: "alice", Reason: "x", Decision: "maybe"}, &bad)
	s.update(2*time.Minute, approval.DecideRequest{Approver: "eve", Reason: "x", Decision: "approve"}, &refused)
	s.update(3*time.Minute, approval.DecideRequest{Approver: "alice", Reason: "checked", Decision: "approve"}, &first)
	s.update(4*time.Minute, approval.DecideRequest{Approver: "bob", Reason: "agreed", Decision: "approve"}, &second)
	s.execute(approvalInput(2))

	s.NoError(s.env.GetWorkflowError())
	s.True(bad.done && refused.done && first.done && second.done)
	s.ErrorContains(bad.err, `decision must be "approve" or "reject"`)
	s.ErrorContains(refused.err, "decision refused: eve is not an approver")
	s.NoError(first.err)
	s.Equal("waiting for 1 more approvals", first.res.Outcome)
	s.NoError(second.err)
	s.Equal("released", second.res.Outcome)
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	// The malformed request was turned away; the refused one is on record.
	s.Len(res.Decisions, 3)
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func (s *ingestSuite) TestRemindersWhileAFileWaits() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	in := approvalInput(1)
	in.Approval.ReminderInterval = time.Hour
	s.signal(3*time.Hour+30*time.Minute, approval.ApproveSignal, "alice", "finally checked")
	s.execute(in)

	s.NoError(s.env.GetWorkflowError())
	s.Equal(3, count(s.notified, "file.reminder"), "notified %v", s.notified)
	s.Equal("file.delivered", s.notified[len(s.notified)-1])
	// A receiver deduplicating on the key, as the contract asks, still
	// gets every reminder.
	keys := map[string]bool{}
	for _, ev := range s.events {
		keys[ev.IdempotencyKey()] = true
	}
	s.Len(keys, len(s.events), "notifications sharing an idempotency key: %+v", s.events)
}

// runUntilDeadlineRejects runs a quarantined file that nobody decides on,
// reminded every 8 h and rejected at its 24 h deadline.
func (s *ingestSuite) runUntilDeadlineRejects() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.RejectName, mock.Anything, mock.Anything).Return(&activities.QuarantineResult{Key: "rejected/acme/orders.csv", VersionID: "rv1"}, nil).Once()
	in := approvalInput(1)
	in.Approval.ReminderInterval, in.Approval.Deadline, in.Approval.OnDeadline = 8*time.Hour, 24*time.Hour, approval.OnDeadlineReject
	s.execute(in)
}

func (s *ingestSuite) TestDeadlineRejectsAFileNobodyDecidedOn() {
	s.runUntilDeadlineRejects()

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Rejected, res.Status)
	s.Equal(2, count(s.notified, "file.reminder")) // at 8 h and 16 h; at 24 h the deadline acts
	s.Require().Len(res.Decisions, 1)
	s.Equal("ferry", res.Decisions[0].Approver)
	s.Contains(res.Decisions[0].Reason, "no decision within 24h0m0s")
}

func (s *ingestSuite) TestDeadlineEscalatesToASecondListOfApprovers() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	in := approvalInput(1)
	in.Approval.Approvers = []string{"alice"}
	in.Approval.Deadline, in.Approval.OnDeadline, in.Approval.EscalationApprovers = 2*time.Hour, approval.OnDeadlineEscalate, []string{"carol"}
	s.signal(time.Hour, approval.ApproveSignal, "carol", "before the deadline")
	s.signal(3*time.Hour, approval.ApproveSignal, "carol", "escalated to me")
	s.execute(in)

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal(1, count(s.notified, "file.escalated"))
	s.Require().Len(res.Decisions, 2)
	s.False(res.Decisions[0].Accepted, "carol may not decide before the deadline")
	s.True(res.Decisions[1].Accepted, "carol may decide after the escalation")
}

func (s *ingestSuite) TestSignedDecisionsWhenThePolicyRequiresThem() {
	key, authorized := s.approverKey()
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	in := approvalInput(1)
	in.Approval.RequireSignatures = true
	in.Approval.ApproverKeys = map[string]string{"alice": authorized, "bob": authorized}
	s.signal(time.Minute, approval.ApproveSignal, "alice", "unsigned")
	s.env.RegisterDelayedCallback(func() {
		at := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
		m := approval.Manifest(testID, fileSHA, approval.ApproveSignal, "alice", "signed and sealed", at)
		sig, err := approval.Sign(key, m, at)
		s.Require().NoError(err)
		s.env.SignalWorkflow(approval.ApproveSignal, approval.Payload{Approver: "alice", Reason: "signed and sealed", Signature: sig})
	}, 2*time.Minute)
	s.execute(in)

	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Require().Len(res.Decisions, 2)
	s.Contains(res.Decisions[0].Refusal, "requires signed decisions")
	s.True(res.Decisions[1].Accepted && res.Decisions[1].Signed)
	s.Equal("approved for release", res.Decisions[1].Meaning)
}

// approverKey is a fresh approver key pair: the private key in PEM, as
// ferry approve --key reads it, and the public one as approver_keys holds it.
func (s *ingestSuite) approverKey() (privPEM []byte, authorized string) {
	return testSigningKey(s.T())
}

func testSigningKey(t *testing.T) (privPEM []byte, authorized string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), string(ssh.MarshalAuthorizedKey(sshPub))
}
