package audit_test

import (
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/audit"
)

func chain(fileID string) []audit.Entry {
	at := time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)
	e1 := audit.Next(nil, fileID, at, "ferry", "status:quarantined", "content is a Windows executable")
	e2 := audit.Next(&e1, fileID, at.Add(time.Minute), "eve", "refused:approve", "eve is not an approver")
	e3 := audit.Next(&e2, fileID, at.Add(2*time.Minute), "alice", "approve", "confirmed with the partner")
	return []audit.Entry{e1, e2, e3}
}

func TestChainVerifies(t *testing.T) {
	es := chain("f")
	if b := audit.Verify(es); b != nil {
		t.Fatalf("a fresh chain does not verify: %v", b)
	}
	if es[1].PrevHash != es[0].Hash || es[2].Seq != 3 {
		t.Fatalf("entries do not chain: %+v", es)
	}
}
