package anchor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ferrydata/ferry/internal/audit"
)

// Status is a chain's standing against its anchors.
type Status string

const (
	// Verified: every anchor of the file matches the chain.
	Verified Status = "verified"
	// Mismatch: an anchor does not match the chain (or is not genuine).
	Mismatch Status = "mismatch"
	// NotAnchored: no anchor of the file exists yet.
	NotAnchored Status = "not anchored"
)

// Ref describes one anchor object.
type Ref struct {
	Key, VersionID string
	// WrittenAt is when S3 stored it (not what the document claims).
	WrittenAt time.Time
	Kind      string
	Seq       int64
	Hash      string
	// Authentic: its signature verified with the configured key.
	Authentic bool
}

// Problem is one anchor that does not match.
type Problem struct {
	Anchor  Ref
	Problem string
}

// Result is what Check found.
type Result struct {
	Status Status
	FileID string
	// Anchors is how many anchor object versions were checked.
	Anchors int
	// Latest is the anchor of the highest sequence number (nil when
	// not anchored): what the chain is known to have held at least.
	Latest *Ref
	// Problems lists every anchor that does not match (Mismatch).
	Problems []Problem
}

// String is one line for operators, or one per problem.
func (r Result) String() string {
	switch r.Status {
	case NotAnchored:
		return fmt.Sprintf("%s: no anchor yet (anchored at its final status and by the ferry-audit-anchor schedule)", r.FileID)
	case Verified:
		return fmt.Sprintf("%s: matches its %d anchor(s); latest %s (entry %d, written %s%s)", r.FileID, r.Anchors,
			r.Latest.Key, r.Latest.Seq, r.Latest.WrittenAt.UTC().Format(time.RFC3339), signed(r.Latest.Authentic))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: does NOT match %d of its %d anchor(s): the trail was rewritten after it was anchored", r.FileID, len(r.Problems), r.Anchors)
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "\n  anchor %s (version %s, written %s): %s", p.Anchor.Key, p.Anchor.VersionID, p.Anchor.WrittenAt.UTC().Format(time.RFC3339), p.Problem)
	}
	return b.String()
}

func signed(ok bool) string {
	if ok {
		return ", signature verified"
	}
	return ", hashed, not signed"
}

// Check compares a file's audit entries (as read from the trail) with
// every anchor ever written for the file. An anchor matches when the
// entry it names is in the chain with the hash it recorded: a chain may
// have grown since, but whatever was anchored cannot have changed. An
// anchor object that is not genuine (edited, unsigned or signed with
// another key) is a mismatch too. The error is for anchors that could
// not be read at all.
//
// Check does not verify the chain itself; audit.Verify does. Together
// they show a trail edited in place (Verify) and one recomputed
// consistently after it was anchored (Check).
func (s *Store) Check(ctx context.Context, fileID string, entries []audit.Entry) (Result, error) {
	stored, err := s.FileAnchors(ctx, fileID)
	if err != nil {
		return Result{}, err
	}
	return Compare(fileID, entries, stored), nil
}

// Compare is Check on anchors already read.
func Compare(fileID string, entries []audit.Entry, stored []Stored) Result {
	r := Result{FileID: fileID, Anchors: len(stored), Status: Verified}
	if len(stored) == 0 {
		r.Status = NotAnchored
		return r
	}
	bySeq := make(map[int64]audit.Entry, len(entries))
	var last int64
	for _, e := range entries {
		bySeq[e.Seq] = e
		last = max(last, e.Seq)
	}
	for _, st := range stored {
		ref := Ref{Key: st.Key, VersionID: st.VersionID, WrittenAt: st.LastModified, Kind: st.Opened.Kind, Authentic: st.Opened.Authentic}
		problem := func(format string, args ...any) {
			r.Problems = append(r.Problems, Problem{Anchor: ref, Problem: fmt.Sprintf(format, args...)})
		}
		if st.Err != nil {
			problem("%v", st.Err)
			continue
		}
		h, ok := headOf(st.Opened.Document, fileID)
		if !ok {
			problem("it does not anchor %s", fileID)
			continue
		}
		ref.Seq, ref.Hash = h.Seq, h.Hash
		if st.Key != FileKey(fileID, h.Seq) {
			problem("it anchors entry %d but is stored as %s, not %s", h.Seq, st.Key, FileKey(fileID, h.Seq))
		} else if e, ok := bySeq[h.Seq]; !ok {
			problem("it anchors entry %d (hash %s), but the trail has %d entries and not that one: entries were removed", h.Seq, h.Hash, last)
		} else if e.Hash != h.Hash {
			problem("entry %d now has hash %s, the anchor recorded %s: the trail up to entry %d was rewritten after it was anchored", h.Seq, e.Hash, h.Hash, h.Seq)
		}
		if r.Latest == nil || ref.Seq > r.Latest.Seq || ref.Seq == r.Latest.Seq && ref.WrittenAt.After(r.Latest.WrittenAt) {
			latest := ref
			r.Latest = &latest
		}
	}
	if len(r.Problems) > 0 {
		r.Status = Mismatch
	}
	return r
}

// headOf finds fileID's head in a document.
func headOf(d Document, fileID string) (Head, bool) {
	for _, h := range d.Heads {
		if h.FileID == fileID {
			return h, true
		}
	}
	return Head{}, false
}

// CheckAnchors is Check for the worker's audit.Verifier: nil when the
// chain matches every anchor (or has none yet), else a break at the
// first anchored entry that differs, with every problem in its words.
func (s *Store) CheckAnchors(ctx context.Context, fileID string, es []audit.Entry) (*audit.Break, error) {
	r, err := s.Check(ctx, fileID, es)
	if err != nil || r.Status != Mismatch {
		return nil, err
	}
	return &audit.Break{Seq: r.Problems[0].Anchor.Seq, Problem: r.String()}, nil
}
