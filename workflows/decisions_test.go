package workflows

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
)

// Two decide updates and an approve signal from one approver, delivered in
// the same workflow task, must count as one approval: a four-eyes policy
// is never satisfied by one pair of eyes, however the messages interleave.
func (s *ingestSuite) TestOneApproverCannotApproveTwiceConcurrently() {
	s.violationAfterRead()
	s.quarantineOK()
	delivered := false
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.DeliverInput) (*activities.DeliverResult, error) {
			delivered = true
			return &activities.DeliverResult{DestVersionID: "dv1"}, nil
		}).Maybe()
	s.env.OnActivity(activities.RejectName, mock.Anything, mock.Anything).Return(&activities.QuarantineResult{Key: "rejected/acme/orders.csv", VersionID: "rv1"}, nil).Maybe()
	var first, second updateResult
	s.env.RegisterDelayedCallback(func() {
		for _, out := range []*updateResult{&first, &second} {
			s.env.UpdateWorkflow(approval.DecideUpdate, "", &testsuite.TestUpdateCallback{
				OnReject: func(err error) { out.err, out.done = err, true },
				OnAccept: func() {},
				OnComplete: func(v any, err error) {
					out.err, out.done = err, true
					if r, ok := v.(approval.DecideResult); ok {
						out.res = r
					}
				},
			}, approval.DecideRequest{Approver: "alice", Reason: "looks fine", Decision: approval.ApproveSignal})
		}
		s.env.SignalWorkflow(approval.ApproveSignal, approval.Payload{Approver: "alice", Reason: "looks fine"})
	}, time.Hour)
	// Bob ends the wait, so the test sees where alice's three messages left the file.
	s.signal(2*time.Hour, approval.RejectSignal, "bob", "not without a second look")
	s.execute(approvalInput(2))

	s.NoError(s.env.GetWorkflowError())
	s.False(delivered, "one approver's repeated approvals released a four-eyes file")
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Rejected, res.Status)
	var accepted, refused int
	for _, d := range res.Decisions {
		switch {
		case d.Approver == "alice" && d.Accepted:
			accepted++
		case d.Approver == "alice":
			refused++
			s.Contains(d.Refusal, "alice already decided")
		}
	}
	s.Equal(1, accepted, "decisions: %+v", res.Decisions)
	s.Equal(2, refused, "decisions: %+v", res.Decisions)
	s.True(first.done && second.done, "both updates were answered before the workflow closed")
	s.Equal(1, approval.Approvals(res.Decisions))
}

// A refused decision is final: retrying the same request cannot change
// the answer, so the error must not invite a retry.
func (s *ingestSuite) TestRefusedDecisionIsNotRetryable() {
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	var refused updateResult
	s.update(time.Minute, approval.DecideRequest{Approver: "eve", Reason: "x", Decision: approval.ApproveSignal}, &refused)
	s.signal(2*time.Minute, approval.ApproveSignal, "alice", "checked")
	s.execute(approvalInput(1))

	s.Require().True(refused.done)
	var app *temporal.ApplicationError
	s.Require().True(errors.As(refused.err, &app), "refusal: %v", refused.err)
	s.Equal(approval.ErrRefused, app.Type())
	s.True(app.NonRetryable(), "a refused decision is answered as retryable")
}

// A file quarantined for its name alone was read all the same, so its
// quarantine copy is verified against its SHA-256 and a signature binds
// the exact bytes released: one over other bytes is refused.
func (s *ingestSuite) TestNameViolationIsReadBeforeADecision() {
	key, authorized := s.approverKey()

	reads := 0
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.InspectInput) (*activities.InspectResult, error) {
			reads++
			reason := "extension .exe is not allowed for this partner: allowed are .csv"
			return nil, temporal.NewNonRetryableApplicationError(reason, activities.ErrRuleViolation, nil,
				activities.Violation{Reasons: []string{reason}, Result: activities.InspectResult{Size: 15, SHA256: fileSHA, BytesRead: 15}})
		})
	var quarantinedSHA string
	s.env.OnActivity(activities.QuarantineName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.QuarantineInput) (*activities.QuarantineResult, error) {
			quarantinedSHA = in.SHA256
			return &activities.QuarantineResult{Bucket: "quarantine", Key: "acme/tool.exe", VersionID: "qv1"}, nil
		})
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.MatchedBy(func(in *activities.DeliverInput) bool {
		return in.Inspection.SHA256 == fileSHA
	})).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil).Once()
	in := approvalInput(1)
	in.Approval.RequireSignatures = true
	in.Approval.ApproverKeys = map[string]string{"alice": authorized, "bob": authorized}
	signed := func(after time.Duration, sha string) {
		s.env.RegisterDelayedCallback(func() {
			at := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
			m := approval.Manifest(testID, sha, approval.ApproveSignal, "alice", "installer the partner needs", at)
			sig, err := approval.Sign(key, m, at)
			s.Require().NoError(err)
			s.env.SignalWorkflow(approval.ApproveSignal, approval.Payload{Approver: "alice", Reason: "installer the partner needs", Signature: sig})
		}, after)
	}
	// Alice first signs other bytes, then what she downloaded from quarantine.
	signed(time.Hour, "0000000000000000000000000000000000000000000000000000000000000000")
	signed(2*time.Hour, fileSHA)
	s.execute(in)

	s.NoError(s.env.GetWorkflowError())
	s.Equal(fileSHA, quarantinedSHA, "the quarantine copy was made without knowing the file's SHA-256")
	s.Equal(1, reads, "the bytes are read once, at inspection, not again at release")
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status, "decisions: %+v", res.Decisions)
	s.Require().Len(res.Decisions, 2)
	s.False(res.Decisions[0].Accepted, "a signature over other bytes was accepted")
	s.True(res.Decisions[1].Accepted && res.Decisions[1].Signed)
}

// auditLog keeps the audit entries the activities stored, as DynamoDB
// would, and fails the writes of one action a number of times first.
type auditLog struct {
	stored   []audit.Entry
	failing  string // action whose writes fail
	failures int    // how many times they fail
	// ranBefore is an action whose entry an earlier run of its step wrote
	// a minute before (its worker died before the workflow recorded the
	// step as done): the trail holds that entry, not the one proposed.
	ranBefore string
}

// write stores e as the audit activities do, and returns the entry the
// trail holds under its number.
func (l *auditLog) write(e *audit.Entry) (*audit.Entry, error) {
	if e == nil {
		return nil, nil
	}
	if e.Action == l.failing && l.failures > 0 {
		l.failures--
		return nil, errors.New("dynamodb: RequestError: send request failed: connection refused")
	}
	if i := slices.IndexFunc(l.stored, func(x audit.Entry) bool { return x.Seq == e.Seq }); i >= 0 {
		return &l.stored[i], nil
	}
	if e.Action == l.ranBefore {
		var prev *audit.Entry
		if n := len(l.stored); n > 0 {
			prev = &l.stored[n-1]
		}
		at, _ := time.Parse(time.RFC3339Nano, e.At)
		earlier := audit.Next(prev, e.FileID, at.Add(-time.Minute), e.Actor, e.Action, e.Details)
		l.stored = append(l.stored, earlier)
		return &earlier, nil
	}
	l.stored = append(l.stored, *e)
	return e, nil
}

// releasedByAlice runs a file that breaks a rule, is quarantined and is
// released by alice, and checks that it was delivered.
func (s *ingestSuite) releasedByAlice() {
	s.T().Helper()
	s.violationAfterRead()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	s.signal(time.Hour, approval.ApproveSignal, "alice", "checked with the partner")
	s.execute(approvalInput(1))

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
}

// An audit write that fails for longer than any single retry policy would
// wait must not leave a hole that later reads as tampering: the entry is
// retried until it is stored, and the chain continues from it. (execute
// verifies the stored chain of every test.)
func (s *ingestSuite) TestAFailedAuditWriteLeavesNoHole() {
	s.trail.failing, s.trail.failures = approval.ApproveSignal, 40
	s.releasedByAlice()
	s.Zero(s.trail.failures, "the failing writes were not all tried")
	s.True(slices.ContainsFunc(s.trail.stored, func(e audit.Entry) bool { return e.Action == approval.ApproveSignal }),
		"the approval is missing from the trail")
}

// A step that runs a second time (its worker died, or Temporal lost the
// workflow task, after the first run wrote its audit entry) finds that
// entry written at another time: the chain goes on from the stored one,
// for a status change and for a decision. (execute verifies the stored
// chain.)
func (s *ingestSuite) TestAStepRunAgainContinuesFromTheEntryItsFirstRunWrote() {
	for _, action := range []string{"status:" + string(filestatus.Delivering), approval.ApproveSignal} {
		s.Run(action, func() {
			s.SetupTest()
			s.trail.ranBefore = action
			s.releasedByAlice()
		})
	}
}
