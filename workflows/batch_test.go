package workflows

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/ingest"
)

const (
	batchID   = "batch-acme-00000000000000000000000000000001"
	otherSHA  = "0000000000000000000000000000000000000000000000000000000000000001"
	batchWait = 2 * time.Hour
)

// batchSuite runs IngestBatch on its own: its members are signals sent
// as their workflows would send them, and what it signals back to them
// (verdicts, decisions) is recorded by member.
type batchSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu        sync.Mutex
	verdicts  map[string][]batch.Verdict
	decisions map[string][]approval.Decision
	attr      []string
	// told is when each member was first told its verdict.
	told map[string]time.Time
}

func TestIngestBatch(t *testing.T) { suite.Run(t, new(batchSuite)) }

func (s *batchSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(IngestBatch, workflow.RegisterOptions{Name: batch.WorkflowName})
	s.verdicts, s.decisions, s.attr, s.told = map[string][]batch.Verdict{}, map[string][]approval.Decision{}, nil, map[string]time.Time{}
	s.env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, _, signal string, arg any) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			switch signal {
			case batch.VerdictSignal:
				s.verdicts[workflowID] = append(s.verdicts[workflowID], arg.(batch.Verdict))
				if _, ok := s.told[workflowID]; !ok {
					s.told[workflowID] = s.env.Now()
				}
			case batch.DecisionSignal:
				s.decisions[workflowID] = append(s.decisions[workflowID], arg.(approval.Decision))
			}
			return nil
		}).Maybe()
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(ingest.FileStatusAttr); ok {
			s.attr = append(s.attr, v)
		}
	}).Return(nil).Maybe()
}

func batchInput(approvers ...string) *batch.Input {
	return &batch.Input{Partner: "acme", Bucket: "landing", Folder: "acme/inbound/b1/",
		Settings: batch.Settings{ManifestPatterns: []string{"*.manifest.json"}, Timeout: batchWait},
		Approval: approval.Policy{Approvers: approvers, RequiredApprovals: len(approvers)}}
}

func file(id, name, sum string) batch.Member {
	return batch.Member{FileID: id, Name: name, Key: "acme/inbound/b1/" + name, VersionID: "v-" + id, Size: 15, SHA256: sum, Uploader: "acme"}
}

func manifestOf(entries ...batch.Entry) batch.Member {
	m := file("m1", "b1.manifest.json", otherSHA)
	m.IsManifest, m.Manifest = true, &batch.Manifest{Files: entries}
	return m
}

var (
	labs1    = file("f1", "labs_1.csv", fileSHA)
	labs2    = file("f2", "labs_2.csv", fileSHA)
	listing2 = manifestOf(batch.Entry{Name: "labs_1.csv", Size: 15, SHA256: fileSHA}, batch.Entry{Name: "labs_2.csv", Size: -1, SHA256: fileSHA})
)

// arrive sends the members' reports, one a minute.
func (s *batchSuite) arrive(members ...batch.Member) {
	for i, m := range members {
		s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(batch.MemberSignal, m) }, time.Duration(i+1)*time.Minute)
	}
}

func (s *batchSuite) run(in *batch.Input) batch.Result {
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: batchID})
	s.env.ExecuteWorkflow(batch.WorkflowName, in)
	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().NoError(s.env.GetWorkflowError())
	var res batch.Result
	s.Require().NoError(s.env.GetWorkflowResult(&res))
	return res
}

// only is the one verdict a member got.
func (s *batchSuite) only(id string) batch.Verdict {
	s.Require().Len(s.verdicts[id], 1, "verdicts of %s: %+v", id, s.verdicts)
	return s.verdicts[id][0]
}

func (s *batchSuite) TestCompleteBatchWithTheManifestLastIsReleased() {
	s.arrive(labs1, labs2, listing2)
	res := s.run(batchInput())
	s.Equal(batch.Released, res.Status)
	s.Equal([]string{"b1.manifest.json", "labs_1.csv", "labs_2.csv"}, res.Members)
	for _, id := range []string{"m1", "f1", "f2"} {
		v := s.only(id)
		s.Equal(batch.Release, v.Outcome)
		s.Equal(batchID, v.WorkflowID)
		s.Equal("acme/inbound/b1/", v.Folder)
	}
	s.Equal([]string{"delivering"}, s.attr)
}

// The batch is released the moment it is complete, not at its timeout.
func (s *batchSuite) TestReleasedWhenComplete() {
	s.arrive(listing2, labs1, labs2)
	start := s.env.Now()
	s.run(batchInput())
	s.Equal(start.Add(3*time.Minute), s.told["f2"], "released when the last listed file arrived")
}

func (s *batchSuite) TestDuplicateReportsAreAnsweredOnce() {
	s.arrive(labs1, labs1, listing2, labs2, labs2)
	res := s.run(batchInput())
	s.Equal(batch.Released, res.Status)
	for _, id := range []string{"m1", "f1", "f2"} {
		s.Equal(batch.Release, s.only(id).Outcome)
	}
}

// A re-upload of a listed name replaces the earlier version: the earlier
// one is told it is superseded, and the batch is judged on the new one.
func (s *batchSuite) TestReuploadReplacesTheEarlierVersion() {
	bad := file("f2-old", "labs_2.csv", otherSHA) // a wrong first upload
	s.arrive(listing2, labs1, bad, labs2)
	res := s.run(batchInput())
	s.Equal(batch.Released, res.Status)
	old := s.only("f2-old")
	s.Equal(batch.Superseded, old.Outcome)
	s.Contains(old.Reasons[0], "replaced by a re-upload of labs_2.csv (version v-f2, workflow f2)")
	s.Equal(batch.Release, s.only("f2").Outcome)
}

func (s *batchSuite) TestIncompleteAtTimeoutIsQuarantinedNamingTheMissingFile() {
	s.arrive(labs1, listing2)
	res := s.run(batchInput())
	s.Equal(batch.Quarantined, res.Status)
	want := []string{"batch acme/inbound/b1/: labs_2.csv listed in the manifest has not arrived"}
	s.Equal(want, res.Reasons)
	for _, id := range []string{"m1", "f1"} {
		v := s.only(id)
		s.Equal(batch.Quarantine, v.Outcome)
		s.Equal(want, v.Reasons)
		s.False(v.DecidedByBatch, "no approvers: nobody decides")
	}
	var st batch.State
	q, err := s.env.QueryWorkflow(batch.StatusQuery)
	s.Require().NoError(err)
	s.Require().NoError(q.Get(&st))
	s.Equal([]string{"labs_2.csv"}, st.Missing)
	s.Equal([]string{"quarantined"}, s.attr)
}

func (s *batchSuite) TestNoManifestAtTimeout() {
	s.arrive(labs1)
	res := s.run(batchInput())
	s.Equal([]string{"batch acme/inbound/b1/: no manifest has arrived (a file named like *.manifest.json in the folder)"}, res.Reasons)
}

func (s *batchSuite) TestMismatchedChecksumIsQuarantined() {
	s.arrive(listing2, labs1, file("f2", "labs_2.csv", otherSHA))
	res := s.run(batchInput())
	s.Equal(batch.Quarantined, res.Status)
	s.Equal([]string{"batch acme/inbound/b1/: labs_2.csv: SHA-256 " + otherSHA + " differs from the manifest's " + fileSHA}, res.Reasons)
	s.Equal(batch.Quarantine, s.only("f1").Outcome)
}

func (s *batchSuite) TestUnlistedFileHoldsTheBatchBack() {
	s.arrive(listing2, file("x", "extra.csv", fileSHA), labs1, labs2)
	res := s.run(batchInput())
	s.Equal([]string{"batch acme/inbound/b1/: extra.csv is not in the manifest"}, res.Reasons)
	s.Equal(batch.Quarantine, s.only("x").Outcome)
}

// A quarantined batch is decided on as a whole, by the partner's rules
// (four eyes here): every judged decision goes to every member, and the
// batch ends approved once two approvers approved.
func (s *batchSuite) TestApprovalOfTheBatchReleasesEveryFile() {
	s.arrive(listing2, labs1)
	decide := func(after time.Duration, approver string) {
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(approval.ApproveSignal, approval.Payload{Approver: approver, Reason: "labs_2.csv follows next week; the partner confirmed"})
		}, after)
	}
	decide(time.Hour, "alice") // before the timeout: refused, nothing to decide yet
	decide(batchWait+time.Hour, "acme")
	decide(batchWait+2*time.Hour, "alice")
	decide(batchWait+3*time.Hour, "alice")
	decide(batchWait+4*time.Hour, "bob")
	res := s.run(batchInput("alice", "bob"))
	s.Equal(batch.Approved, res.Status)
	for _, id := range []string{"m1", "f1"} {
		v := s.only(id)
		s.True(v.DecidedByBatch)
		ds := s.decisions[id]
		s.Require().Len(ds, 4, "decisions sent to %s", id)
		s.False(ds[0].Accepted)
		s.Contains(ds[0].Refusal, "may not decide") // the uploader
		s.True(ds[1].Accepted)
		s.False(ds[2].Accepted) // alice again: four eyes
		s.True(ds[3].Accepted)
		s.Equal("bob", ds[3].Approver)
	}
	var st batch.State
	q, err := s.env.QueryWorkflow(batch.StatusQuery)
	s.Require().NoError(err)
	s.Require().NoError(q.Get(&st))
	s.Require().Len(st.Decisions, 5)
	s.Contains(st.Decisions[0].Refusal, "the batch is collecting, not quarantined")
	s.Equal([]string{"quarantined", "approved"}, s.attr)
}

// A member that arrives while the quarantined batch waits for its
// decision is not part of it: it is told so and decided on by itself.
func (s *batchSuite) TestLateMemberIsToldItIsNotPartOfTheBatch() {
	s.arrive(listing2, labs1)
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(batch.MemberSignal, labs2) }, batchWait+time.Hour)
	s.env.RegisterDelayedCallback(func() {
		s.env.SignalWorkflow(approval.RejectSignal, approval.Payload{Approver: "alice", Reason: "incomplete"})
	}, batchWait+2*time.Hour)
	res := s.run(batchInput("alice"))
	s.Equal(batch.Rejected, res.Status)
	late := s.only("f2")
	s.Equal(batch.Quarantine, late.Outcome)
	s.False(late.DecidedByBatch)
	s.Equal([]string{"batch acme/inbound/b1/: labs_2.csv arrived after the batch was quarantined: it is not part of it, and is decided on by itself"}, late.Reasons)
	s.Empty(s.decisions["f2"])
	s.Len(s.decisions["f1"], 1)
}

// A signed decision on a batch binds the batch's digest, which the status
// query shows (ferry approve signs what it reads there).
func (s *batchSuite) TestSignedDecisionBindsTheBatch() {
	priv, authorized := testSigningKey(s.T())
	in := batchInput("alice")
	in.Approval.RequireSignatures = true
	in.Approval.ApproverKeys = map[string]string{"alice": authorized}
	s.arrive(listing2, labs1)
	s.env.RegisterDelayedCallback(func() {
		q, err := s.env.QueryWorkflow(batch.StatusQuery)
		s.Require().NoError(err)
		var st batch.State
		s.Require().NoError(q.Get(&st))
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		wrong, err := approval.Sign(priv, approval.Manifest(batchID, fileSHA, approval.ApproveSignal, "alice", "ok", at), at)
		s.Require().NoError(err)
		s.env.SignalWorkflow(approval.ApproveSignal, approval.Payload{Approver: "alice", Reason: "ok", Signature: wrong})
		right, err := approval.Sign(priv, approval.Manifest(batchID, st.SHA256, approval.ApproveSignal, "alice", "ok", at), at)
		s.Require().NoError(err)
		s.env.SignalWorkflow(approval.ApproveSignal, approval.Payload{Approver: "alice", Reason: "ok", Signature: right})
	}, batchWait+time.Hour)
	res := s.run(in)
	s.Equal(batch.Approved, res.Status)
	ds := s.decisions["f1"]
	s.Require().Len(ds, 2)
	s.False(ds[0].Accepted)
	s.True(ds[1].Accepted && ds[1].Signed)
}
