package anchor

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/audit"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func chain(fileID string, n int) []audit.Entry {
	var es []audit.Entry
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		var prev *audit.Entry
		if i > 0 {
			prev = &es[i-1]
		}
		es = append(es, audit.Next(prev, fileID, at.Add(time.Duration(i)*time.Second), "ferry", "status:step", "details"))
	}
	return es
}

// rechain recomputes every hash after the entries were edited, as
// someone with write access to the audit table could: the chain verifies.
func rechain(es []audit.Entry) []audit.Entry {
	out := make([]audit.Entry, len(es))
	for i, e := range es {
		var prev *audit.Entry
		if i > 0 {
			prev = &out[i-1]
		}
		at, _ := time.Parse(time.RFC3339Nano, e.At)
		out[i] = audit.Next(prev, e.FileID, at, e.Actor, e.Action, e.Details)
	}
	return out
}

func TestSealOpen(t *testing.T) {
	d := Document{Format: 1, Kind: KindFile, WrittenAt: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), By: "test", Heads: []Head{{"f", 3, "abc"}}}
	signed, err := Seal(d, key)
	if err != nil {
		t.Fatal(err)
	}
	hashed, err := Seal(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(strings.Replace(string(signed), `\"seq\":3`, `\"seq\":4`, 1))
	if string(tampered) == string(signed) {
		tampered = []byte(strings.Replace(string(signed), `"seq":3`, `"seq":4`, 1))
	}
	otherKey := []byte("another key of enough length!!!!")
	for _, tt := range []struct {
		name          string
		body, key     []byte
		wantErr       string
		wantAuthentic bool
	}{
		{"signed, checked with its key", signed, key, "", true},
		{"signed, read without a key: hashed only", signed, nil, "", false},
		{"hashed only, read without a key", hashed, nil, "", false},
		{"edited after sealing", tampered, key, "does not match its SHA-256", false},
		{"signed with another key", signed, otherKey, "signature does not verify", false},
		{"unsigned where anchors are signed", hashed, key, "it is unsigned", false},
		{"not an envelope", []byte("{"), key, "not an anchor envelope", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Open(tt.body, tt.key)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrNotGenuine) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: %v, want ErrNotGenuine saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Authentic != tt.wantAuthentic || o.Heads[0] != d.Heads[0] || !o.WrittenAt.Equal(d.WrittenAt) {
				t.Fatalf("opened %+v", o)
			}
		})
	}
}

func stored(t *testing.T, h Head, written time.Time) Stored {
	t.Helper()
	body, err := Seal(Document{Format: 1, Kind: KindFile, WrittenAt: written, Heads: []Head{h}}, key)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(body, key)
	return Stored{Key: FileKey(h.FileID, h.Seq), VersionID: "v", LastModified: written, Opened: o, Err: err}
}

func TestCompare(t *testing.T) {
	const id = "ingest-acme-1"
	es := chain(id, 5)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at3 := stored(t, Head{id, 3, es[2].Hash}, t0)
	at5 := stored(t, Head{id, 5, es[4].Hash}, t0.Add(time.Hour))

	edited := append([]audit.Entry(nil), es...)
	edited[1].Details = "softened"
	rewritten := rechain(edited)
	if b := audit.Verify(rewritten); b != nil {
		t.Fatalf("the rewritten chain must verify on its own: %v", b)
	}
	editedLate := append([]audit.Entry(nil), es...)
	editedLate[4].Details = "after the anchor at 3"
	forged := at3
	forged.Opened, forged.Err = Opened{}, ErrNotGenuine

	for _, tt := range []struct {
		name       string
		entries    []audit.Entry
		anchors    []Stored
		want       Status
		latest     int64
		wantInText string
	}{
		{"no anchor yet", es, nil, NotAnchored, 0, "no anchor yet"},
		{"every anchor matches", es, []Stored{at3, at5}, Verified, 5, "matches its 2 anchor(s); latest anchors/files/ingest-acme-1/000000000005.json (entry 5"},
		{"the chain grew since its anchor", append(es, audit.Next(&es[4], id, t0, "bob", "approve", "")), []Stored{at5}, Verified, 5, "signature verified"},
		{"recomputed as a whole after anchoring", rewritten, []Stored{at3, at5}, Mismatch, 5, "entry 3 now has hash"},
		{"shorter than its anchor", es[:4], []Stored{at3, at5}, Mismatch, 5, "the trail has 4 entries and not that one: entries were removed"},
		{"rewritten after the last anchor only", rechain(editedLate), []Stored{at3}, Verified, 3, ""},
		{"an anchor that is not genuine", es, []Stored{forged, at5}, Mismatch, 5, "not genuine"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Compare(id, tt.entries, tt.anchors)
			if r.Status != tt.want {
				t.Fatalf("status %s, want %s: %s", r.Status, tt.want, r)
			}
			if tt.latest > 0 && (r.Latest == nil || r.Latest.Seq != tt.latest) {
				t.Fatalf("latest %+v, want entry %d", r.Latest, tt.latest)
			}
			if !strings.Contains(r.String(), tt.wantInText) {
				t.Fatalf("%q lacks %q", r.String(), tt.wantInText)
			}
		})
	}
}

// Checkpoint keys sort by time, so the last listed is the latest, and
// file keys by sequence number.
func TestKeysSort(t *testing.T) {
	a, b := CheckpointKey(time.Date(2026, 5, 1, 9, 59, 59, 999, time.UTC)), CheckpointKey(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	if a >= b {
		t.Fatalf("%s sorts after %s", a, b)
	}
	if got, ok := checkpointTimeOf(b); !ok || !got.Equal(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("checkpointTimeOf(%s) = %v, %v", b, got, ok)
	}
	if FileKey("f", 9) >= FileKey("f", 10) {
		t.Fatal("file keys must sort by sequence number")
	}
}
