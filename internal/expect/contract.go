package expect

import (
	"encoding/json"
	"time"

	"github.com/ferrydata/ferry/internal/audit"
)

// Contract names: the worker registers the workflows under them, intake
// signals ArrivedSignal, operators query StateQuery and trigger the
// schedules by ScheduleID.
const (
	// WorkflowName watches one occurrence (ID: Occurrence.ID).
	WorkflowName = "ExpectFile"
	// WindowWorkflowName is what an expectation's schedule starts when a
	// window opens: it starts the occurrence's ExpectFile, unless a file
	// that came first already did.
	WindowWorkflowName = "ExpectWindow"
	// ArrivedSignal tells an occurrence that a matching file arrived
	// (payload Arrival).
	ArrivedSignal = "arrived"
	// StateQuery answers the occurrence's State.
	StateQuery = "state"
	// SchedulePrefix starts the ID of every expectation's schedule.
	SchedulePrefix = "ferry-expect-"
)

// ScheduleID is the Temporal Schedule that opens an expectation's windows.
func ScheduleID(partner, expectation string) string {
	return SchedulePrefix + partner + "-" + expectation
}

// Notification types (notify.Event's Type).
const (
	TypeLate        = "partner.file_late"
	TypeMissing     = "partner.file_missing"
	TypeArrivedLate = "partner.file_arrived_late"
)

// Types are the notification types of expectations.
var Types = []string{TypeLate, TypeMissing, TypeArrivedLate}

// Phase is where an occurrence stands.
type Phase string

// Phases, in the order an occurrence moves through them.
const (
	// Waiting: the window is open and no file has come.
	Waiting Phase = "waiting"
	// Late: warn_at passed without a file (partner.file_late sent).
	Late Phase = "late"
	// Arrived: a file came by the deadline (perhaps after a warning).
	Arrived Phase = "arrived"
	// Missing: the deadline passed without a file (partner.file_missing).
	Missing Phase = "missing"
	// ArrivedLate: a file came after the deadline, before the next
	// window (partner.file_arrived_late).
	ArrivedLate Phase = "arrived_late"
)

// Audit actions of an occurrence's trail (audit file ID: Occurrence.ID).
const (
	ActionLate        = "expectation:late"
	ActionArrived     = "expectation:arrived"
	ActionMissing     = "expectation:missing"
	ActionArrivedLate = "expectation:arrived_late"
)

// PhaseOf is the phase an audit action records ("" for another action).
func PhaseOf(action string) Phase {
	switch action {
	case ActionLate:
		return Late
	case ActionArrived:
		return Arrived
	case ActionMissing:
		return Missing
	case ActionArrivedLate:
		return ArrivedLate
	}
	return ""
}

// Settled reports whether p ends the occurrence: a file came.
func (p Phase) Settled() bool { return p == Arrived || p == ArrivedLate }

// Input is ExpectFile's input.
type Input struct {
	Occurrence Occurrence
}

// WindowInput is ExpectWindow's input: the expectation, whose occurrence
// the window workflow works out from the schedule's time.
type WindowInput struct {
	Partner string
	Spec    Spec
}

// Arrival is a matching file that arrived (the arrived signal's payload).
type Arrival struct {
	FileID    string
	Bucket    string
	Key       string
	VersionID string `json:",omitempty"`
	Size      int64
	// At is when the object was written (its event's time).
	At time.Time
}

// State is what the state query and the workflow's result say.
type State struct {
	Occurrence Occurrence
	Phase      Phase
	// Arrival is the file that settled the occurrence, if one did.
	Arrival   *Arrival `json:",omitempty"`
	WarnedAt  time.Time
	MissingAt time.Time
}

// Details is the JSON an occurrence's audit entries carry: the file for
// an arrival, the times for a warning or a missing file.
type Details struct {
	Deadline time.Time `json:"deadline"`
	WarnAt   time.Time `json:"warnAt,omitzero"`
	Arrival  *Arrival  `json:"arrival,omitempty"`
}

// String encodes d for an audit entry.
func (d Details) String() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// FromTrail is an occurrence's phase and arrival as its audit trail
// records them (the system of record once its workflow has closed):
// Waiting when nothing is recorded.
func FromTrail(trail []audit.Entry) (Phase, *Arrival, time.Time) {
	phase, at := Waiting, time.Time{}
	var arrival *Arrival
	for _, e := range trail {
		p := PhaseOf(e.Action)
		if p == "" {
			continue
		}
		phase = p
		at, _ = time.Parse(time.RFC3339Nano, e.At)
		var d Details
		if json.Unmarshal([]byte(e.Details), &d) == nil && d.Arrival != nil {
			arrival = d.Arrival
		}
	}
	return phase, arrival, at
}
