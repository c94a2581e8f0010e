package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
)

// lastStored is the head of the trail as the activities stored it.
func (s *ingestSuite) lastStored() anchor.Head {
	s.Require().NotEmpty(s.trail.stored)
	e := s.trail.stored[len(s.trail.stored)-1]
	return anchor.Head{FileID: e.FileID, Seq: e.Seq, Hash: e.Hash}
}

// Every final status anchors the head of the trail once, after the last
// entry: delivered, failed, quarantined for good, rejected (with a
// decision refused after the end of the quarantine on record first).
func (s *ingestSuite) TestEveryFinalStatusAnchorsTheTrailsHead() {
	for name, run := range map[string]func() filestatus.Status{
		"delivered": func() filestatus.Status {
			s.inspectOK()
			s.deliverOK()
			s.execute(input())
			return filestatus.Delivered
		},
		"delivered on the fast path": func() filestatus.Status {
			s.inspectOK()
			s.deliverOK()
			s.execute(smallInput())
			return filestatus.Delivered
		},
		"failed": func() filestatus.Status {
			s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
				temporal.NewNonRetryableApplicationError("vanished", activities.ErrObjectVanished, nil))
			s.execute(input())
			return filestatus.Failed
		},
		"quarantined for good": func() filestatus.Status {
			s.violationAfterRead()
			s.quarantineOK()
			in := approvalInput(1)
			in.Approval = approval.Policy{}
			s.execute(in)
			return filestatus.Quarantined
		},
		"rejected": func() filestatus.Status {
			s.violationAfterRead()
			s.quarantineOK()
			s.env.OnActivity(activities.RejectName, mock.Anything, mock.Anything).Return(&activities.QuarantineResult{Bucket: "quarantine", Key: "rejected/acme/orders.csv", VersionID: "rv1"}, nil)
			s.signal(time.Hour, approval.RejectSignal, "bob", "sent by mistake")
			s.signal(time.Hour, approval.ApproveSignal, "bob", "changed my mind") // refused, and on record
			s.execute(approvalInput(1))
			return filestatus.Rejected
		},
	} {
		s.Run(name, func() {
			s.SetupTest()
			want := run()
			s.Equal(want, s.status().Stage)
			s.Equal([]anchor.Head{s.lastStored()}, s.anchored, "the anchored head is the trail's last entry")
		})
	}
}

// An anchor that cannot be written does not hold up or fail the file:
// the schedule's next checkpoint anchors it.
func (s *ingestSuite) TestAnUnwritableAnchorDoesNotFailTheFile() {
	s.inspectOK()
	s.deliverOK()
	calls := 0
	s.anchorErr = errors.New("writing anchor s3://ferry-anchors/...: connection refused")
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		if info.ActivityType.Name == activities.AnchorFileName {
			calls++
		}
	})
	s.execute(input())
	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Greater(calls, 1, "the anchor is retried for a while")
}

func TestAnchorAuditWritesOneCheckpoint(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(AnchorAudit, workflow.RegisterOptions{Name: anchor.WorkflowName})
	env.RegisterActivityWithOptions(func(context.Context, *anchor.CheckpointInput) (*anchor.CheckpointResult, error) {
		return &anchor.CheckpointResult{Key: "anchors/checkpoints/x.json", Heads: 3}, nil
	}, activity.RegisterOptions{Name: anchor.CheckpointActivityName})
	env.ExecuteWorkflow(anchor.WorkflowName, &anchor.CheckpointInput{})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res anchor.CheckpointResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Heads != 3 {
		t.Fatalf("result %+v, %v", res, err)
	}
}
