package approval

import (
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	p := Policy{Approvers: []string{"alice", "bob"}, RequiredApprovals: 2}
	q := State{Partner: "acme", Uploader: "acme-bot", Stage: "quarantined"}
	approvedByAlice := q
	approvedByAlice.Decisions = []Decision{{Approver: "alice", Kind: ApproveSignal, Accepted: true, At: time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)}}
	refusedEve := q
	refusedEve.Decisions = []Decision{{Approver: "alice", Kind: ApproveSignal, Accepted: false}}
	tests := []struct {
		name  string
		state State
		d     Payload
		want  string // "" means accepted
	}{
		{"listed approver", q, Payload{"alice", "checked"}, ""},
		{"no approver", q, Payload{"", "x"}, "no approver given"},
		{"no reason", q, Payload{"alice", " "}, "no reason given"},
		{"not listed", q, Payload{"eve", "trust me"}, "eve is not an approver for partner acme"},
		{"partner itself", q, Payload{"acme", "mine"}, "acme uploaded this file"},
		{"uploader", q, Payload{"acme-bot", "mine"}, "acme-bot uploaded this file"},
		{"not quarantined", State{Partner: "acme", Stage: "delivering"}, Payload{"alice", "x"}, "the file is delivering, not quarantined"},
		{"same approver twice", approvedByAlice, Payload{"alice", "again"}, "alice already decided (approve at 2026-11-24T07:00:00Z)"},
		{"second approver", approvedByAlice, Payload{"bob", "agree"}, ""},
		{"a refused decision does not count", refusedEve, Payload{"alice", "now properly"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Check(tt.state, tt.d, ApproveSignal)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("Check = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	if (Policy{}).Enabled() || (Policy{}).Required() != 1 {
		t.Fatal("an empty policy must be disabled and need one approval")
	}
	if err := (Policy{Approvers: []string{"alice"}, RequiredApprovals: 2}).Validate(); err == nil {
		t.Fatal("two approvals from one approver accepted")
	}
	if err := (Policy{Approvers: []string{"alice", " "}}).Validate(); err == nil {
		t.Fatal("an empty approver name accepted")
	}
	if n := Approvals([]Decision{{Approver: "a", Kind: ApproveSignal, Accepted: true}, {Approver: "b", Kind: ApproveSignal}, {Approver: "c", Kind: RejectSignal, Accepted: true}}); n != 1 {
		t.Fatalf("Approvals = %d, want 1", n)
	}
}
