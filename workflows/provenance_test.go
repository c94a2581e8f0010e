package workflows

import (
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/ingest"
)

// Provenance from the event reaches the record, the first audit entry and
// the status query.
func (s *ingestSuite) TestRecordsProvenance() {
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1"}, nil)
	in := input()
	in.Provenance = &ingest.Provenance{Principal: "acme", SourceIP: "127.0.0.1", RequestID: "18EAE6182707631D", EventTime: time.Date(2026, 11, 24, 6, 6, 32, 872e6, time.UTC)}
	s.execute(in)
	s.NoError(s.env.GetWorkflowError())

	s.Equal(in.Provenance, s.receivedWith.Provenance, "provenance given to the record")
	s.Equal("s3://landing/acme/inbound/orders.csv version v1, s3:ObjectCreated:Put via ; provenance: principal acme, source ip 127.0.0.1, request id 18EAE6182707631D, event time 2026-11-24T06:06:32.872Z",
		s.trail.stored[0].Details)
	var st ingest.FileState
	q, err := s.env.QueryWorkflow(ingest.StatusQuery)
	s.NoError(err)
	s.NoError(q.Get(&st))
	s.Equal(in.Provenance, st.Provenance)
}

// An input without provenance (every history from before it) writes the
// first entry and the record exactly as before.
func (s *ingestSuite) TestWithoutProvenanceRecordsAsBefore() {
	s.inspectOK()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.Anything).Return(&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1"}, nil)
	s.execute(input())
	s.NoError(s.env.GetWorkflowError())
	s.Equal("s3://landing/acme/inbound/orders.csv version v1, s3:ObjectCreated:Put via ", s.trail.stored[0].Details)
	s.Nil(s.receivedWith.Provenance)
	var st ingest.FileState
	q, err := s.env.QueryWorkflow(ingest.StatusQuery)
	s.NoError(err)
	s.NoError(q.Get(&st))
	s.Nil(st.Provenance)
}
