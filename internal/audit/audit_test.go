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

// The same step run a second time builds its entry at another time: the
// stored one restates it. An entry for anything else, or one edited
// after it was written, does not.
func TestRestates(t *testing.T) {
	es := chain("f")
	again := audit.Next(&es[1], "f", time.Date(2026, 11, 24, 7, 5, 0, 0, time.UTC), "alice", "approve", "confirmed with the partner")
	if again.Hash == es[2].Hash {
		t.Fatal("the test's second run built the same entry; it must differ in its time")
	}
	if !again.Restates(es[2]) {
		t.Error("the stored entry of the same step at another time does not restate it")
	}
	edited := es[2]
	edited.At = "2026-11-24T07:09:00Z" // changed without its hash
	for name, other := range map[string]audit.Entry{
		"other actor":    audit.Next(&es[1], "f", time.Now(), "bob", "approve", "confirmed with the partner"),
		"other action":   audit.Next(&es[1], "f", time.Now(), "alice", "reject", "confirmed with the partner"),
		"other details":  audit.Next(&es[1], "f", time.Now(), "alice", "approve", "not confirmed"),
		"other position": audit.Next(&es[0], "f", time.Now(), "alice", "approve", "confirmed with the partner"),
		"other file":     audit.Next(&es[1], "g", time.Now(), "alice", "approve", "confirmed with the partner"),
		"edited":         edited,
	} {
		if again.Restates(other) {
			t.Errorf("%s: restates the step", name)
		}
	}
}
