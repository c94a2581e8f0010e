package workflows

import (
	"context"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
)

// memberInput is acme's labs_1.csv in batch folder b1, with two approvers.
func memberInput() *ingest.Input {
	in := approvalInput(2)
	in.Key, in.DestKey = "acme/inbound/b1/labs_1.csv", "acme/b1/labs_1.csv"
	in.Batch = &batch.Membership{WorkflowID: batchID, Folder: "acme/inbound/b1/", Name: "labs_1.csv",
		Settings: batch.Settings{ManifestPatterns: []string{"*.manifest.json"}, Timeout: batchWait}}
	return in
}

// joins records what the file reported to its batch.
func (s *ingestSuite) joins() *[]activities.JoinBatchInput {
	var got []activities.JoinBatchInput
	s.env.OnActivity(activities.JoinBatchName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.JoinBatchInput) error { got = append(got, *in); return nil })
	return &got
}

func (s *ingestSuite) verdict(after time.Duration, v batch.Verdict) {
	v.Folder, v.WorkflowID = "acme/inbound/b1/", batchID
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(batch.VerdictSignal, v) }, after)
}

func (s *ingestSuite) actions() []string {
	var out []string
	for _, e := range s.trail.stored {
		out = append(out, e.Action)
	}
	return out
}

func (s *ingestSuite) entry(action string) audit.Entry {
	for _, e := range s.trail.stored {
		if e.Action == action {
			return e
		}
	}
	s.Failf("no audit entry", "no %s in %v", action, s.actions())
	return audit.Entry{}
}

func (s *ingestSuite) TestBatchMemberIsDeliveredWhenTheBatchIsReleased() {
	s.inspectOK()
	joins := s.joins()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/b1/labs_1.csv", DestVersionID: "dv1"}, nil).Once()
	s.verdict(time.Hour, batch.Verdict{Outcome: batch.Release})
	s.execute(memberInput())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Require().Len(*joins, 1)
	j := (*joins)[0]
	s.Equal(batchID, j.WorkflowID)
	s.Equal(batch.Member{FileID: testID, Name: "labs_1.csv", Key: "acme/inbound/b1/labs_1.csv", VersionID: "v1", Size: 15, SHA256: fileSHA, Uploader: "acme"}, j.Member)
	s.Equal(batch.Input{Partner: "acme", Bucket: "landing", Folder: "acme/inbound/b1/", Settings: memberInput().Batch.Settings, Approval: memberInput().Approval}, j.Batch)
	s.Equal("batch acme/inbound/b1/ (workflow "+batchID+"): every file of its manifest arrived and matches", s.entry("batch:release").Details)
	var st ingest.FileState
	q, err := s.env.QueryWorkflow(ingest.StatusQuery)
	s.Require().NoError(err)
	s.Require().NoError(q.Get(&st))
	s.Equal(&ingest.BatchFacts{WorkflowID: batchID, Folder: "acme/inbound/b1/", Outcome: batch.Release}, st.Batch)
}

func (s *ingestSuite) TestManifestReportsWhatItLists() {
	s.inspectOK()
	joins := s.joins()
	listed := &batch.Manifest{Files: []batch.Entry{{Name: "labs_1.csv", Size: 15, SHA256: fileSHA}}}
	s.env.OnActivity(activities.ReadManifestName, mock.Anything, mock.MatchedBy(func(in *activities.ReadManifestInput) bool {
		return in.Name == "b1.manifest.json" && in.File.VersionID == "v1"
	})).Return(&activities.ReadManifestResult{Manifest: listed}, nil).Once()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil).Once()
	s.verdict(time.Hour, batch.Verdict{Outcome: batch.Release})
	in := memberInput()
	in.Key, in.Batch.Name, in.Batch.Manifest = "acme/inbound/b1/b1.manifest.json", "b1.manifest.json", true
	s.execute(in)

	s.NoError(s.env.GetWorkflowError())
	s.Require().Len(*joins, 1)
	m := (*joins)[0].Member
	s.True(m.IsManifest)
	s.Equal(listed, m.Manifest)
}

// A quarantined batch's member is quarantined with the batch's reasons,
// refuses decisions sent to itself, and follows the batch's decision:
// each one on its own trail, then release and delivery.
func (s *ingestSuite) TestBatchQuarantineFollowsTheBatchDecision() {
	s.inspectOK()
	s.joins()
	s.quarantineOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil).Once()
	missing := "batch acme/inbound/b1/: labs_2.csv listed in the manifest has not arrived"
	s.verdict(batchWait, batch.Verdict{Outcome: batch.Quarantine, Reasons: []string{missing}, DecidedByBatch: true})
	s.signal(batchWait+time.Minute, approval.ApproveSignal, "alice", "to the file itself")
	at := batchWait + 2*time.Minute
	for i, who := range []string{"alice", "bob"} {
		d := approval.Decision{Approver: who, Reason: "labs_2.csv follows next week", Kind: approval.ApproveSignal, Accepted: true}
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(batch.DecisionSignal, d) }, at+time.Duration(i)*time.Minute)
	}
	s.execute(memberInput())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal([]filestatus.Status{filestatus.Quarantined, filestatus.Approved, filestatus.Delivering, filestatus.Delivered}, s.moves[1:])
	s.Contains(res.Reasons, missing)
	s.Require().Len(res.Decisions, 3)
	s.False(res.Decisions[0].Accepted)
	s.Contains(res.Decisions[0].Refusal, "the file is part of batch acme/inbound/b1/, quarantined as a whole: decide on the batch with `ferry approve --workflow-id "+batchID+"`")
	s.Equal([]string{"status:received", "status:inspecting", "batch:quarantine", "status:quarantined", "refused:approve", "batch:approve", "batch:approve", "status:approved", "status:delivering", "status:delivered"}, s.actions())
	s.Equal("labs_2.csv follows next week (decided on batch acme/inbound/b1/, workflow "+batchID+")", s.entry("batch:approve").Details)
}

// The batch's reject moves the member to rejected, as a file's own would.
func (s *ingestSuite) TestBatchRejectRejectsTheMember() {
	s.inspectOK()
	s.joins()
	s.quarantineOK()
	s.env.OnActivity(activities.RejectName, mock.Anything, mock.Anything).Return(&activities.QuarantineResult{Key: "rejected/acme/b1/labs_1.csv", VersionID: "rv1"}, nil).Once()
	s.verdict(batchWait, batch.Verdict{Outcome: batch.Quarantine, Reasons: []string{"batch acme/inbound/b1/: extra.csv is not in the manifest"}, DecidedByBatch: true})
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(batch.DecisionSignal, approval.Decision{Approver: "bob", Reason: "not what was agreed", Kind: approval.RejectSignal, Accepted: true})
	}, batchWait+time.Minute)
	s.execute(memberInput())

	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Rejected, res.Status)
	s.Contains(s.actions(), "batch:reject")
}

// A version that a re-upload replaced is not delivered: it ends failed
// with the reason, and the re-upload is the batch's member.
func (s *ingestSuite) TestSupersededVersionIsNotDelivered() {
	s.inspectOK()
	s.joins()
	why := "batch acme/inbound/b1/: replaced by a re-upload of labs_1.csv (version v2, workflow ingest-acme-2) before the batch was decided: this version is not delivered"
	s.verdict(time.Hour, batch.Verdict{Outcome: batch.Superseded, Reasons: []string{why}})
	s.execute(memberInput())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Failed, res.Status)
	s.Equal([]string{why}, res.Reasons)
	s.Equal([]string{"file.failed"}, s.notified)
}

// A member that breaks a rule tells its batch so (which holds the batch
// back) and is quarantined with its own reasons and the batch's.
func (s *ingestSuite) TestMemberBreakingARuleTellsTheBatch() {
	s.violationAfterRead()
	joins := s.joins()
	s.quarantineOK()
	s.verdict(batchWait, batch.Verdict{Outcome: batch.Quarantine, Reasons: []string{
		"batch acme/inbound/b1/: labs_1.csv breaks the partner's rules: content is a Windows executable (MZ), not a .csv file"}})
	in := memberInput()
	in.Approval = approval.Policy{}
	s.execute(in)

	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Quarantined, res.Status)
	s.Equal([]string{"content is a Windows executable (MZ), not a .csv file"}, (*joins)[0].Member.Violations)
	s.Equal([]string{"content is a Windows executable (MZ), not a .csv file"}, res.Reasons, "the batch's reason repeats the file's own")
}
