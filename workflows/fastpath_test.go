package workflows

import (
	"context"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
)

// kinds records how each activity ran: "local" or "regular", in order.
type kinds struct{ local, regular []string }

func (s *ingestSuite) watchKinds() *kinds {
	k := &kinds{}
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		k.local = append(k.local, info.ActivityType.Name)
	})
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		k.regular = append(k.regular, info.ActivityType.Name)
	})
	return k
}

func smallInput() *ingest.Input {
	in := input()
	in.SmallFileMaxBytes = 8 << 20
	return in
}

func (s *ingestSuite) deliverOK() {
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(
		&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1"}, nil)
}

// A small file is inspected and delivered by local activities, and its
// record goes from received to delivered in one write: no dispatch
// through the server, no status write per stage.
func (s *ingestSuite) TestSmallFileTakesTheFastPath() {
	k := s.watchKinds()
	var maxBytes int64
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.InspectInput) (*activities.InspectResult, error) {
			maxBytes = in.MaxBytes
			return &activities.InspectResult{Size: 15, SHA256: fileSHA}, nil
		})
	s.deliverOK()
	// As internal/intake starts it: FileStatus is received from the start.
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(ingest.FileStatusAttr.ValueSet(string(filestatus.Received)))))
	s.execute(smallInput())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal(fileSHA, res.SHA256)
	s.Equal("dv1", res.DestVersionID)
	s.Equal([]string{activities.RecordReceivedName, activities.InspectName, activities.DeliverName, activities.RecordStatusName, activities.NotifyName, activities.AnchorFileName}, k.local,
		"the whole file, its anchor included, runs in local activities")
	s.Empty(k.regular)
	s.Equal(int64(8<<20), maxBytes, "the local inspection must refuse what is larger than the fast path takes")
	s.Equal([]filestatus.Status{filestatus.Delivered}, s.moves)
	s.Equal([]string{"delivered"}, s.statusAttr, "received is not upserted again: the start set it")
	s.Equal([]string{"file.delivered"}, s.notified)
	// The outcome's audit entry says what inspection and delivery found.
	s.Require().Len(s.trail.stored, 2)
	s.Contains(s.trail.stored[1].Details, fileSHA)
	s.Contains(s.trail.stored[1].Details, "dv1")
}

// A file above SmallFileMaxBytes by its event, or any file when the fast
// path is off, takes the regular path with its stages recorded.
func (s *ingestSuite) TestLargerFileTakesTheRegularPath() {
	for _, in := range []*ingest.Input{
		func() *ingest.Input { in := smallInput(); in.Size = 8<<20 + 1; return in }(),
		input(), // SmallFileMaxBytes 0, as in histories written before the fast path
	} {
		s.SetupTest()
		k := s.watchKinds()
		s.inspectOK()
		s.deliverOK()
		s.execute(in)
		s.NoError(s.env.GetWorkflowError())
		s.Equal([]string{activities.InspectName, activities.DeliverName}, k.regular, "size %d, fast path up to %d", in.Size, in.SmallFileMaxBytes)
		s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Delivering, filestatus.Delivered}, s.moves)
	}
}

// When the local inspection finds the file must not be read without
// heartbeats (S3 says it is larger than the event did, or it is to be
// decrypted), the regular activity inspects it, and delivers it.
func (s *ingestSuite) TestFastPathHandsBackWhatItMustNotRead() {
	k := s.watchKinds()
	var reads []int64
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *activities.InspectInput) (*activities.InspectResult, error) {
			reads = append(reads, in.MaxBytes)
			if in.MaxBytes > 0 {
				return nil, temporal.NewNonRetryableApplicationError("s3://landing/acme/inbound/orders.csv is 9437184 bytes", activities.ErrNotSmall, nil)
			}
			return &activities.InspectResult{Size: 9 << 20, SHA256: fileSHA}, nil
		})
	s.deliverOK()
	s.execute(smallInput())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal([]int64{8 << 20, 0}, reads, "refused once by the local activity (never retried), then read by the regular one")
	s.Equal([]string{activities.InspectName, activities.DeliverName}, k.regular)
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Delivering, filestatus.Delivered}, s.moves)
	s.Empty(res.Reasons, "handing back is not a problem of the file")
}

// A small file that breaks a rule is quarantined straight from received,
// and once approved is delivered by the local activity.
func (s *ingestSuite) TestSmallFileQuarantinedThenReleasedOnTheFastPath() {
	k := s.watchKinds()
	s.violationAfterRead()
	s.quarantineOK()
	s.deliverOK()
	s.signal(time.Hour, approval.ApproveSignal, "alice", "checked with the partner")
	in := approvalInput(1)
	in.SmallFileMaxBytes = 8 << 20
	s.execute(in)

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal([]filestatus.Status{filestatus.Quarantined, filestatus.Approved, filestatus.Delivered}, s.moves)
	s.Equal([]string{activities.QuarantineName}, k.regular, "the quarantine copy stays a regular activity")
	s.Contains(k.local, activities.DeliverName)
	s.Equal([]string{"file.quarantined", "file.delivered"}, s.notified)
}

// outage answers a local activity with a retryable failure, as when S3 or
// the scanner is down, and a regular one with ok; it counts both.
func outage[In, T any](ok *T, local, regular *int) func(ctx context.Context, _ In) (*T, error) {
	return func(ctx context.Context, _ In) (*T, error) {
		if activity.GetInfo(ctx).IsLocalActivity {
			*local++
			return nil, temporal.NewApplicationError("malware scanner unavailable: dial tcp 127.0.0.1:3310: connection refused", activities.ErrScannerUnavailable)
		}
		*regular++
		return ok, nil
	}
}

// What a local activity cannot finish within seconds (S3 or the scanner
// down) is handed to the regular activity, which waits it out for as long
// as its own policy says and shows operators why, as a pending activity.
func (s *ingestSuite) TestFastPathHandsAnOutageToTheRegularActivity() {
	var local, regular int
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(
		outage[*activities.InspectInput](&activities.InspectResult{Size: 15, SHA256: fileSHA}, &local, &regular))
	s.deliverOK()
	s.execute(smallInput())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal(3, local, "the local inspection is tried three times")
	s.Equal(1, regular)
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Delivering, filestatus.Delivered}, s.moves)
	s.Empty(res.Reasons)
}

func (s *ingestSuite) TestFastPathHandsAFailingDeliveryToTheRegularActivity() {
	k := s.watchKinds()
	var local, regular int
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(
		outage[*activities.DeliverInput](&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1"}, &local, &regular))
	s.execute(smallInput())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal("dv1", res.DestVersionID)
	s.Equal([]int{3, 1}, []int{local, regular})
	s.NotContains(k.regular, activities.InspectName, "inspection stayed on the fast path")
	s.Equal([]filestatus.Status{filestatus.Delivering, filestatus.Delivered}, s.moves)
}

// A verification failure is an outcome of the file, on either path: it is
// not handed over to be tried again.
func (s *ingestSuite) TestFastPathDoesNotHandBackAnOutcome() {
	k := s.watchKinds()
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError("delivered version has SHA-256 00…, want cd74…", activities.ErrDeliveryVerification, nil)).Once()
	s.execute(smallInput())

	s.Error(s.env.GetWorkflowError())
	s.Empty(k.regular)
	s.Equal([]filestatus.Status{filestatus.Failed}, s.moves)
}

// A small file's whole journey may be one workflow task. A worker killed
// before Temporal recorded it (here: during the notification) leaves the
// record delivered and no history; the run starts again, finds the record
// its own earlier attempt wrote, and goes on — the delivery found again,
// the notification sent — instead of taking it for another execution's.
func (s *ingestSuite) TestARunStartedAgainAfterItsLostFirstTaskFinishesTheFile() {
	s.received = &activities.RecordReceivedResult{
		AlreadyKnown: true, SameRun: true, Status: filestatus.Delivered, SHA256: fileSHA, DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1",
	}
	s.inspectOK()
	s.deliverOK()
	s.execute(smallInput())

	s.NoError(s.env.GetWorkflowError())
	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.False(res.Duplicate)
	s.Equal(filestatus.Delivered, res.Status)
	s.Equal([]filestatus.Status{filestatus.Delivered}, s.moves)
	s.Equal([]string{"file.delivered"}, s.notified)
	s.Equal([]string{"delivered"}, s.statusAttr[len(s.statusAttr)-1:])
}

// Another execution's outcome (the workflow ID reused) is a duplicate:
// nothing is done again, and operators see the outcome, not received.
func (s *ingestSuite) TestAnotherExecutionsOutcomeIsShownNotRedone() {
	s.received = &activities.RecordReceivedResult{
		AlreadyKnown: true, Status: filestatus.Delivered, SHA256: fileSHA, DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1",
	}
	s.Require().NoError(s.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(ingest.FileStatusAttr.ValueSet(string(filestatus.Received)))))
	s.execute(smallInput())

	var res ingest.Result
	s.NoError(s.env.GetWorkflowResult(&res))
	s.True(res.Duplicate)
	s.Empty(s.moves)
	s.Empty(s.notified)
	s.Equal([]string{"delivered"}, s.statusAttr)
}
