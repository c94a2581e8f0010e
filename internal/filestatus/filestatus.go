// Package filestatus holds the lifecycle of one ingested file: the status
// names that operators filter on (the FileStatus search attribute and the
// DynamoDB status index) and which moves between them are allowed.
package filestatus

import "fmt"

// Status is the stage a file is in. The values are a contract: operators
// filter the Temporal UI with FileStatus="..." and dashboards query the
// DynamoDB status index with them.
type Status string

const (
	Received    Status = "received"
	Inspecting  Status = "inspecting"
	Quarantined Status = "quarantined"
	Approved    Status = "approved"
	Rejected    Status = "rejected"
	Delivering  Status = "delivering"
	Delivered   Status = "delivered"
	Failed      Status = "failed"
)

// All lists every status in lifecycle order.
var All = []Status{Received, Inspecting, Quarantined, Approved, Rejected, Delivering, Delivered, Failed}

// predecessors says from which statuses a file may move into a status.
// Every status also accepts itself so that a retried write is a no-op, and
// nothing ever moves a file backwards (a replayed activity cannot turn
// delivered back into inspecting). A small file skips the inspecting and
// delivering stages (the fast path, workflows/fastpath.go): it moves from
// received to its outcome, or to delivering when its delivery is handed
// to the regular activity, and from approved to delivered.
var predecessors = map[Status][]Status{
	Received:    {Received},
	Inspecting:  {Received, Inspecting},
	Quarantined: {Received, Inspecting, Quarantined},
	Approved:    {Quarantined, Approved},
	Rejected:    {Quarantined, Rejected},
	Delivering:  {Received, Inspecting, Approved, Delivering},
	Delivered:   {Received, Approved, Delivering, Delivered},
	Failed:      {Received, Inspecting, Quarantined, Approved, Delivering, Failed},
}

// Predecessors returns the statuses a file may be in when it moves to s.
func Predecessors(s Status) []Status { return predecessors[s] }

// CanMove reports whether a file in status from may move to status to.
func CanMove(from, to Status) bool {
	for _, p := range predecessors[to] {
		if p == from {
			return true
		}
	}
	return false
}

// Terminal reports whether no further move leaves s.
func (s Status) Terminal() bool {
	return s == Delivered || s == Rejected || s == Failed
}

// Parse checks that s names a known status.
func Parse(s string) (Status, error) {
	for _, st := range All {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown file status %q: use one of %v", s, All)
}
