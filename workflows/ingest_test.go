package workflows

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/notify"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/rules"
)

const testID = "ingest-acme-00000000000000000000000000000001"

type ingestSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment
	// moves records every status the workflow wrote to DynamoDB, in order.
	moves    []filestatus.Status
	notified []string
	events   []notify.Event
	// statusAttr records every FileStatus search attribute value upserted.
	statusAttr []string
	// received is what the RecordReceived mock answers; receivedWith
	// what it was asked.
	received     *activities.RecordReceivedResult
	receivedWith *activities.RecordReceivedInput
	// trail is the audit trail as the activities stored it.
	trail *auditLog
	// anchored holds every audit head the workflow anchored.
	anchored []anchor.Head
	// anchorErr, when set, is what AnchorFile answers.
	anchorErr error
}

func TestIngestFile(t *testing.T) { suite.Run(t, new(ingestSuite)) }

func (s *ingestSuite) SetupTest() {
	s.env = s.NewTestWorkflowEnvironment()
	s.env.RegisterWorkflowWithOptions(IngestFile, workflow.RegisterOptions{Name: ingest.WorkflowName})
	// Registering the real struct makes the activity names known; every
	// call below is answered by a mock.
	s.env.RegisterActivity(&activities.Activities{})
	s.moves, s.notified, s.events, s.statusAttr, s.anchored, s.anchorErr = nil, nil, nil, nil, nil, nil
	s.env.OnActivity(activities.AnchorFileName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.AnchorFileInput) (*activities.AnchorFileResult, error) {
			if s.anchorErr != nil {
				return nil, s.anchorErr
			}
			s.anchored = append(s.anchored, in.Head)
			return &activities.AnchorFileResult{Key: anchor.FileKey(in.Head.FileID, in.Head.Seq)}, nil
		}).Maybe()
	s.trail = &auditLog{}
	s.received = &activities.RecordReceivedResult{Status: filestatus.Received}
	s.env.OnActivity(activities.RecordReceivedName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.RecordReceivedInput) (*activities.RecordReceivedResult, error) {
			s.receivedWith = in
			if s.received.AlreadyKnown && !s.received.SameRun {
				return s.received, nil
			}
			_, err := s.trail.write(in.Audit)
			return s.received, err
		}).Maybe()
	s.env.OnActivity(activities.AppendAuditName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, e *audit.Entry) (*audit.Entry, error) { return s.trail.write(e) }).Maybe()
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(ingest.FileStatusAttr); ok {
			s.statusAttr = append(s.statusAttr, v)
		}
	}).Return(nil).Maybe()
	s.env.OnActivity(activities.RecordStatusName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.RecordStatusInput) (*activities.RecordStatusResult, error) {
			s.moves = append(s.moves, in.Change.Status)
			stored, err := s.trail.write(in.Audit)
			if err != nil {
				return nil, err
			}
			return &activities.RecordStatusResult{Audit: stored}, nil
		}).Maybe()
	s.env.OnActivity(activities.NotifyName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.NotifyInput) error {
			s.notified = append(s.notified, in.Event.Type)
			s.events = append(s.events, in.Event)
			return nil
		}).Maybe()
}

// s3Outage returns a check that fails as an unreachable S3 does until d
// has passed on the test's clock, and passes after.
func (s *ingestSuite) s3Outage(d time.Duration) func() error {
	began := s.env.Now()
	return func() error {
		if s.env.Now().Sub(began) < d {
			return errors.New("dial tcp 127.0.0.1:9000: connect: connection refused")
		}
		return nil
	}
}

func input() *ingest.Input {
	return &ingest.Input{
		FileID: testID, Partner: "acme", Bucket: "landing", Key: "acme/inbound/orders.csv", VersionID: "v1",
		Size: 15, EventName: "s3:ObjectCreated:Put", Rules: rules.Rules{AllowedExtensions: []string{".csv"}},
		DestBucket: "delivered", DestKey: "acme/orders.csv",
	}
}

func (s *ingestSuite) execute(in *ingest.Input) {
	s.env.SetStartWorkflowOptions(clientOptions())
	s.env.ExecuteWorkflow(ingest.WorkflowName, in)
	s.True(s.env.IsWorkflowCompleted())
	// Whatever happened, the stored audit trail has no hole and no edit.
	if len(s.trail.stored) > 0 {
		slices.SortFunc(s.trail.stored, func(a, b audit.Entry) int { return int(a.Seq - b.Seq) })
		s.Nil(audit.Verify(s.trail.stored), "stored audit trail: %+v", s.trail.stored)
	}
}

func (s *ingestSuite) inspectOK() {
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(&activities.InspectResult{
		Size: 15, SHA256: "cd74993f7257b5af3649f8440ed272ae2ee39109cb23889e629b5fbdeba28fea", ContentType: "text/plain; charset=utf-8",
		S3ChecksumAlgorithm: "CRC32C", S3Checksum: "RbrvGg==", BytesRead: 15,
	}, nil)
}

func (s *ingestSuite) TestDelivers() {
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.MatchedBy(func(in *activities.DeliverInput) bool {
		// The destination comes from the input and the inspection travels on.
		return in.DestBucket == "delivered" && in.DestKey == "acme/orders.csv" && in.Inspection.SHA256 != "" && in.File.VersionID == "v1"
	})).Return(&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1"}, nil)
	s.execute(input())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal("dv1", res.DestVersionID)
	s.Equal("cd74993f7257b5af3649f8440ed272ae2ee39109cb23889e629b5fbdeba28fea", res.SHA256)
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Delivering, filestatus.Delivered}, s.moves)
	s.Equal([]string{"file.delivered"}, s.notified)

	var st ingest.FileState
	q, err := s.env.QueryWorkflow(ingest.StatusQuery)
	s.NoError(err)
	s.NoError(q.Get(&st))
	s.Equal(filestatus.Delivered, st.Stage)
	s.Equal("CRC32C", st.S3ChecksumAlgorithm)
	s.Len(st.History, 4) // received, inspecting, delivering, delivered
	s.Equal([]string{"received", "inspecting", "delivering", "delivered"}, s.statusAttr)
}

func (s *ingestSuite) TestRuleViolationEndsFailedWithReasons() {
	reasons := []string{"extension .exe is not allowed for this partner: allowed are .csv"}
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError(reasons[0], activities.ErrRuleViolation, nil, activities.Violation{Reasons: reasons}))
	s.execute(input())

	// A violation is an outcome, not a crash: the workflow completes.
	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Failed, res.Status)
	s.Equal(reasons, res.Reasons)
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Failed}, s.moves)
	s.Equal([]string{"file.failed"}, s.notified)
	s.Equal([]string{"received", "inspecting", "failed"}, s.statusAttr)
}

func (s *ingestSuite) TestTransientFailureIsRetried() {
	calls := 0
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.InspectInput) (*activities.InspectResult, error) {
			calls++
			if calls < 3 {
				return nil, errors.New("read tcp 127.0.0.1:9000: connection reset by peer")
			}
			return &activities.InspectResult{Size: 15, SHA256: "abc"}, nil
		})
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	s.execute(input())

	s.NoError(s.env.GetWorkflowError())
	s.Equal(3, calls, "inspection should have been retried until it succeeded")
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
}

// An outage of S3 is waited out by a delivery as by an inspection: the
// copy fails for a day, then S3 is back and the file is delivered. (Ten
// attempts gave up after about six minutes, failing every file in flight.)
func (s *ingestSuite) TestDeliveryWaitsOutAnS3Outage() {
	s.inspectOK()
	down := s.s3Outage(24 * time.Hour)
	calls := 0
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.DeliverInput) (*activities.DeliverResult, error) {
			calls++
			if err := down(); err != nil {
				return nil, err
			}
			return &activities.DeliverResult{DestVersionID: "dv1"}, nil
		})
	s.execute(input())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status, "after %d attempts", calls)
}

// A run that repeats the delivered step (its worker died after the record
// was written, before Temporal learnt of it) sends the notification again
// with the `at` the first run's record holds, not a new one: receivers
// may refuse an old `at` or compare a retry with what they had.
func (s *ingestSuite) TestNotificationSentAgainKeepsItsAt() {
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	s.trail.ranBefore = "status:delivered"
	s.execute(input())

	s.NoError(s.env.GetWorkflowError())
	i := slices.IndexFunc(s.trail.stored, func(e audit.Entry) bool { return e.Action == "status:delivered" })
	s.Require().GreaterOrEqual(i, 0, "no status:delivered entry in %+v", s.trail.stored)
	first, err := time.Parse(time.RFC3339Nano, s.trail.stored[i].At)
	s.Require().NoError(err)
	s.Require().Len(s.events, 1)
	s.Equal("file.delivered", s.events[0].Type)
	s.True(s.events[0].At.Equal(first), "notification at %s, want the first run's %s", s.events[0].At, first)
}

func (s *ingestSuite) TestVanishedObjectIsNotRetriedAndFailsLoudly() {
	calls := 0
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.InspectInput) (*activities.InspectResult, error) {
			calls++
			return nil, temporal.NewNonRetryableApplicationError("s3://landing/acme/inbound/orders.csv version v1 vanished before inspection", activities.ErrObjectVanished, nil)
		})
	s.execute(input())

	s.Equal(1, calls)
	err := s.env.GetWorkflowError()
	s.Error(err)
	s.Contains(err.Error(), "vanished")
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Failed}, s.moves)
	s.Equal([]string{"file.failed"}, s.notified)
}

func (s *ingestSuite) TestVerificationFailureIsNeverRetried() {
	s.inspectOK()
	calls := 0
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.DeliverInput) (*activities.DeliverResult, error) {
			calls++
			return nil, temporal.NewNonRetryableApplicationError("delivered s3://delivered/acme/orders.csv has size 14, expected 15", activities.ErrDeliveryVerification, nil)
		})
	s.execute(input())

	s.Equal(1, calls)
	s.ErrorContains(s.env.GetWorkflowError(), "size 14, expected 15")
	s.Equal(filestatus.Failed, s.moves[len(s.moves)-1])
}

func (s *ingestSuite) TestAlreadyDeliveredFileIsNotDeliveredAgain() {
	s.received = &activities.RecordReceivedResult{
		AlreadyKnown: true, Status: filestatus.Delivered, SHA256: "abc", DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1",
	}
	// No Inspect or Deliver mock: calling either would fail the test.
	s.execute(input())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.True(res.Duplicate)
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal("dv1", res.DestVersionID)
	s.Empty(s.moves)
	s.Empty(s.notified)
}

func (s *ingestSuite) TestInvalidInputIsRefusedWithTheFieldsNamed() {
	in := input()
	in.Key, in.VersionID, in.ETag = "", "", ""
	s.execute(in)
	err := s.env.GetWorkflowError()
	s.Error(err)
	s.Contains(err.Error(), "Key is empty")
	s.Contains(err.Error(), "neither VersionID nor ETag")
}

func (s *ingestSuite) TestFileIDMustBeTheWorkflowID() {
	in := input()
	in.FileID = "ingest-acme-somethingelse"
	s.execute(in)
	s.ErrorContains(s.env.GetWorkflowError(), "differs from the workflow ID")
}

func (s *ingestSuite) TestRuleViolationIsQuarantined() {
	in := input()
	in.QuarantineBucket, in.QuarantineKey = "quarantine", "acme/orders.csv"
	reasons := []string{"content is a Windows executable (MZ), not a .csv file: the partner must send the file the name promises"}
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError(reasons[0], activities.ErrRuleViolation, nil,
			activities.Violation{Reasons: reasons, Result: activities.InspectResult{Size: 15, SHA256: "abc"}}))
	s.env.OnActivity(activities.QuarantineName, mock.Anything, mock.MatchedBy(func(q *activities.QuarantineInput) bool {
		return q.Bucket == "quarantine" && q.Key == "acme/orders.csv" && q.SHA256 == "abc" && q.File.VersionID == "v1"
	})).Return(&activities.QuarantineResult{Bucket: "quarantine", Key: "acme/orders.csv", VersionID: "qv1"}, nil).Once()
	// Deliver is not mocked: reaching it would fail the test.
	s.execute(in)

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Quarantined, res.Status)
	s.Equal("qv1", res.QuarantineVersionID)
	s.Equal(reasons, res.Reasons)
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Quarantined}, s.moves)
	s.Equal([]string{"file.quarantined"}, s.notified)
	s.Equal([]string{"received", "inspecting", "quarantined"}, s.statusAttr)
}

func (s *ingestSuite) TestQuarantineCopyFailureFailsTheFile() {
	in := input()
	in.QuarantineBucket, in.QuarantineKey = "quarantine", "acme/orders.csv"
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError("file is empty (0 bytes)", activities.ErrRuleViolation, nil, activities.Violation{Reasons: []string{"file is empty (0 bytes)"}}))
	s.env.OnActivity(activities.QuarantineName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError("vanished", activities.ErrObjectVanished, nil))
	s.execute(in)
	s.ErrorContains(s.env.GetWorkflowError(), "vanished")
	s.Equal(filestatus.Failed, s.moves[len(s.moves)-1])
}

func (s *ingestSuite) TestSourceIsHandledAfterTheDeliveryIsRecorded() {
	in := input()
	in.Governance = governance.Policy{SourceAfterDelivery: governance.Delete}
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	var handledAfter []filestatus.Status
	s.env.OnActivity(activities.HandleSourceName, mock.Anything, mock.MatchedBy(func(h *activities.HandleSourceInput) bool {
		return h.Action == governance.Delete && h.DestVersionID == "dv1"
	})).Return(func(context.Context, *activities.HandleSourceInput) error {
		handledAfter = append([]filestatus.Status{}, s.moves...)
		return nil
	}).Once()
	s.execute(in)

	s.NoError(s.env.GetWorkflowError())
	// The source goes only once the delivery is verified and recorded.
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Delivering, filestatus.Delivered}, handledAfter)
}

func (s *ingestSuite) TestSourceKeptByDefault() {
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	called := false
	s.env.OnActivity(activities.HandleSourceName, mock.Anything, mock.Anything).Return(func(context.Context, *activities.HandleSourceInput) error {
		called = true
		return nil
	}).Maybe()
	s.execute(input())
	s.NoError(s.env.GetWorkflowError())
	s.False(called, "the source must be kept when the policy says nothing")
}

func sidecarInput() *ingest.Input {
	in := input()
	in.QuarantineBucket, in.QuarantineKey = "quarantine", "acme/orders.csv"
	in.Rules.Sidecar = rules.Sidecar{Required: true, Timeout: 10 * time.Minute}
	return in
}

const fileSHA = "cd74993f7257b5af3649f8440ed272ae2ee39109cb23889e629b5fbdeba28fea"

func (s *ingestSuite) quarantineOK() {
	s.env.OnActivity(activities.QuarantineName, mock.Anything, mock.Anything).Return(&activities.QuarantineResult{Bucket: "quarantine", Key: "acme/orders.csv", VersionID: "qv1"}, nil)
}

func (s *ingestSuite) TestMatchingSidecarLetsTheFileThrough() {
	s.inspectOK()
	s.env.OnActivity(activities.FetchSidecarName, mock.Anything, mock.Anything).Return(&activities.FetchSidecarResult{SHA256: fileSHA}, nil)
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	s.execute(sidecarInput())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
}

func (s *ingestSuite) TestMismatchingSidecarQuarantinesWithBothValues() {
	s.inspectOK()
	s.env.OnActivity(activities.FetchSidecarName, mock.Anything, mock.Anything).Return(&activities.FetchSidecarResult{SHA256: strings.Repeat("0", 64)}, nil)
	s.quarantineOK()
	s.execute(sidecarInput())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Quarantined, res.Status)
	s.Require().Len(res.Reasons, 1)
	s.Contains(res.Reasons[0], strings.Repeat("0", 64))
	s.Contains(res.Reasons[0], fileSHA)
}

func (s *ingestSuite) TestMissingSidecarQuarantinesAfterTheTimeout() {
	s.inspectOK()
	attempts := 0
	s.env.OnActivity(activities.FetchSidecarName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.FetchSidecarInput) (*activities.FetchSidecarResult, error) {
			attempts++
			return nil, temporal.NewApplicationError("not yet", activities.ErrSidecarMissing)
		})
	s.quarantineOK()
	s.execute(sidecarInput())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Quarantined, res.Status)
	s.Contains(res.Reasons[0], "no checksum sidecar acme/inbound/orders.csv.sha256 arrived within 10m0s")
	// It kept looking for the whole wait, not once.
	s.Greater(attempts, 3)
}

// S3 down when the sidecar's wait runs out is not a missing sidecar: the
// file waits out the outage and one more look decides, finding the
// sidecar the partner uploaded in time.
func (s *ingestSuite) TestSidecarWaitEndingInAnS3OutageLooksAgain() {
	s.inspectOK()
	// Down past the end of the wait (which the test environment ends
	// after 10 attempts, the server at the 10-minute timeout).
	down := s.s3Outage(5 * time.Minute)
	looks := 0
	s.env.OnActivity(activities.FetchSidecarName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.FetchSidecarInput) (*activities.FetchSidecarResult, error) {
			looks++
			if err := down(); err != nil {
				return nil, err
			}
			return &activities.FetchSidecarResult{SHA256: fileSHA}, nil
		})
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestVersionID: "dv1"}, nil)
	s.execute(sidecarInput())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status, "reasons %v after %d looks", res.Reasons, looks)
}

// After an outage the last look's answer is final: no sidecar is a
// missing sidecar, at once.
func (s *ingestSuite) TestSidecarMissingAfterAnS3OutageQuarantines() {
	s.inspectOK()
	began := s.env.Now()
	down := s.s3Outage(5 * time.Minute)
	s.env.OnActivity(activities.FetchSidecarName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.FetchSidecarInput) (*activities.FetchSidecarResult, error) {
			if err := down(); err != nil {
				return nil, err
			}
			return nil, temporal.NewApplicationError("no sidecar", activities.ErrSidecarMissing)
		})
	s.quarantineOK()
	s.execute(sidecarInput())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Quarantined, res.Status)
	s.Contains(res.Reasons[0], "no checksum sidecar acme/inbound/orders.csv.sha256 arrived within 10m0s")
	s.Less(s.env.Now().Sub(began), time.Hour, "the last look's answer was not taken as final")
}

func (s *ingestSuite) TestInvalidSidecarQuarantinesWithItsProblem() {
	s.inspectOK()
	s.env.OnActivity(activities.FetchSidecarName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError(`checksum sidecar acme/inbound/orders.csv.sha256: sidecar names "x.csv", not "orders.csv"`, activities.ErrSidecarInvalid, nil))
	s.quarantineOK()
	s.execute(sidecarInput())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Quarantined, res.Status)
	s.Contains(res.Reasons[0], `sidecar names "x.csv"`)
}

// TestReplayRecordedHistories replays every history recorded from the real
// local stack (go run ./deploy/local/record-histories). A change to
// IngestFile that would break workflows already running in production
// fails here with a non-determinism error. Record a new history for every
// new path.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/history-*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories in testdata (%v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimPrefix(file, "testdata/"), func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			hist, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatalf("reading %s: %v", file, err)
			}
			r := worker.NewWorkflowReplayer()
			start := hist.Events[0].GetWorkflowExecutionStartedEventAttributes()
			if start.GetWorkflowType().GetName() == batch.WorkflowName {
				r.RegisterWorkflowWithOptions(IngestBatch, workflow.RegisterOptions{Name: batch.WorkflowName})
				if err := r.ReplayWorkflowHistory(nil, hist); err != nil {
					t.Fatalf("replaying %s: %v", file, err)
				}
				return
			}
			// The original workflow ID matters: IngestFile checks its
			// input against it, and the input names it.
			var in ingest.Input
			if err := converter.GetDefaultDataConverter().FromPayloads(
				hist.Events[0].GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err != nil {
				t.Fatalf("reading the input of %s: %v", file, err)
			}
			r.RegisterWorkflowWithOptions(IngestFile, workflow.RegisterOptions{Name: ingest.WorkflowName})
			err = r.ReplayWorkflowHistoryWithOptions(nil, hist, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: in.FileID},
			})
			if err != nil {
				t.Fatalf("replaying %s: %v", file, err)
			}
		})
	}
}
