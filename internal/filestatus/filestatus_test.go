package filestatus

import "testing"

func TestCanMove(t *testing.T) {
	tests := []struct {
		from, to Status
		want     bool
	}{
		{Received, Inspecting, true},
		{Inspecting, Delivering, true},
		{Delivering, Delivered, true},
		{Delivered, Delivered, true}, // a retried write is a no-op
		{Delivered, Inspecting, false},
		{Delivered, Failed, false},
		{Delivering, Received, false},
		{Inspecting, Quarantined, true},
		{Quarantined, Approved, true},
		{Quarantined, Delivering, false}, // only an approval releases a quarantined file
		{Quarantined, Delivered, false},
		{Received, Delivered, true},   // a small file's fast path
		{Received, Quarantined, true}, // ditto, breaking a rule
		{Approved, Delivered, true},   // a small file released
		{Received, Approved, false},   // still only by a decision on a quarantined file
		{Rejected, Approved, false},
		{Failed, Delivering, false},
	}
	for _, tt := range tests {
		if got := CanMove(tt.from, tt.to); got != tt.want {
			t.Errorf("CanMove(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestEveryStatusHasPredecessors(t *testing.T) {
	for _, s := range All {
		if len(Predecessors(s)) == 0 {
			t.Errorf("status %s has no allowed predecessors", s)
		}
		if !CanMove(s, s) {
			t.Errorf("status %s does not accept a repeated write of itself", s)
		}
	}
}

func TestParse(t *testing.T) {
	if s, err := Parse("quarantined"); err != nil || s != Quarantined {
		t.Fatalf("Parse(quarantined) = %q, %v", s, err)
	}
	if _, err := Parse("done"); err == nil {
		t.Fatal("Parse(done) accepted an unknown status")
	}
}
