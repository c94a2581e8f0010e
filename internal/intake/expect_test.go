package intake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/expect"
	"github.com/ferrydata/ferry/internal/intake"
)

// signaler records the signals-with-start it is asked for.
type signaler struct {
	ids   []string
	sigs  []expect.Arrival
	input []*expect.Input
	err   error
}

func (s *signaler) SignalWithStartWorkflow(_ context.Context, id, name string, arg any, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	if name != expect.ArrivedSignal || wf != expect.WorkflowName || o.ID != id {
		return nil, errors.New("wrong signal, workflow or ID")
	}
	s.ids, s.sigs, s.input = append(s.ids, id), append(s.sigs, arg.(expect.Arrival)), append(s.input, args[0].(*expect.Input))
	return nil, s.err
}

func TestStartedFileThatMatchesAnExpectationIsAnnounced(t *testing.T) {
	cfg := testConfig()
	acme := cfg.Partners["acme"]
	acme.Expectations = []expect.Spec{
		{Name: "orders", Pattern: "2026/orders*.csv", Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}, TimeZone: "UTC", Deadline: "23:59"},
		{Name: "labs", Pattern: "labs_*.csv", Days: []string{"mon"}, TimeZone: "UTC", Deadline: "06:00"},
	}
	cfg.Partners["acme"] = acme
	sig := &signaler{}
	// Every start is a duplicate here: it announces as a new start does.
	in := &intake.Intake{Config: cfg, Temporal: &starter{err: serviceerror.NewWorkflowExecutionAlreadyStarted("started", "", "")}, Arrivals: sig}
	ctx := context.Background()

	o := upload()
	o.EventTime = time.Now().UTC()
	p, err := in.Ingest(ctx, o, intake.SkipKnownCheck)
	if err != nil {
		t.Fatal(err)
	}
	want := expect.ID("acme", "orders", o.EventTime.Format(expect.DateLayout))
	if len(sig.ids) != 1 || sig.ids[0] != want {
		t.Fatalf("signalled %v, want only %s (labs does not match)", sig.ids, want)
	}
	if a := sig.sigs[0]; a.FileID != p.WorkflowID || a.Key != o.Key || !a.At.Equal(o.EventTime) {
		t.Errorf("arrival %+v, want the file's ID, key and event time", a)
	}
	if sig.input[0].Occurrence.ID() != want {
		t.Errorf("starts occurrence %+v", sig.input[0].Occurrence)
	}

	// A duplicate event announces again (the start may have been durable
	// and the signal not); a settled occurrence refuses it quietly.
	sig.err = serviceerror.NewWorkflowExecutionAlreadyStarted("settled", "", "")
	if _, err := in.Ingest(ctx, o, intake.SkipKnownCheck); err != nil || len(sig.ids) != 2 {
		t.Fatalf("second event: %v, %d signals", err, len(sig.ids))
	}

	// A failed signal fails the event, so its source retries.
	sig.err = serviceerror.NewUnavailable("temporal down")
	if _, err := in.Ingest(ctx, o, intake.SkipKnownCheck); err == nil {
		t.Fatal("a failed announcement was acknowledged")
	}

	// A file backfilled long after its occurrence closed is not announced.
	sig.err = nil
	o.EventTime = time.Now().AddDate(0, 0, -30)
	if _, err := in.Ingest(ctx, o, intake.SkipKnownCheck); err != nil || len(sig.ids) != 3 {
		t.Fatalf("old file: %v, %d signals (want none more)", err, len(sig.ids))
	}
}
