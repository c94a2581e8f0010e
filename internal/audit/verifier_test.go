//go:build integration

package audit_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The worker's verifier finds a trail someone edited in the table among
// the files that changed, counts it once for its partner and names the
// file in its log; intact trails, and a file whose first entry is not yet
// written, count nothing.
func TestVerifierCountsATamperedTrail(t *testing.T) {
	stack := stacktest.Require(t, stacktest.DynamoDB)
	ctx := context.Background()
	files, trails := stack.FilesTable(t), stack.AuditTable(t)
	now := time.Now().UTC()
	record := func(partner string, at time.Time, status filestatus.Status, trail bool) string {
		return recordFile(t, files, trails, partner, at, status, trail)
	}
	intact := record("acme", now.Add(-time.Minute), filestatus.Quarantined, true)
	tampered := record("globex", now.Add(-time.Minute), filestatus.Quarantined, true)
	editDetails(t, trails, tampered, 2, "approved")
	record("acme", now, filestatus.Received, false) // its first entry is on its way
	// Changed two days ago, beyond what a pass looks back on: ferry audit
	// --partner finds this one.
	old := record("acme", now.Add(-48*time.Hour), filestatus.Quarantined, true)
	editDetails(t, trails, old, 2, "approved")
	files.Now = func() time.Time { return time.Now().UTC() }

	exp, in := metricstest.Instruments(t, "acme", "globex")
	var logs bytes.Buffer
	newVerifier := func() *audit.Verifier {
		return &audit.Verifier{Files: files, Trails: trails, Metrics: in, Interval: time.Hour,
			Log: slog.New(slog.NewTextHandler(&logs, nil))}
	}
	failures := func() (acme, globex float64) {
		m := metricstest.Gather(t, exp.Registry)
		acme, _ = m.Value(metrics.AuditVerificationFailuresTotal, map[string]string{"partner": "acme"})
		globex, _ = m.Value(metrics.AuditVerificationFailuresTotal, map[string]string{"partner": "globex"})
		return acme, globex
	}

	v := newVerifier()
	verified, broken, err := v.Pass(ctx)
	if err != nil || verified != 2 || broken != 1 {
		t.Fatalf("first pass: %d verified, %d broken, %v; want 2 verified (the acme and globex trails), 1 broken", verified, broken, err)
	}
	if acme, globex := failures(); acme != 0 || globex != 1 {
		t.Errorf("after the first pass: acme %v, globex %v failures; want 0 and 1", acme, globex)
	}
	line := logs.String()
	if !strings.Contains(line, "file_id="+tampered) || !strings.Contains(line, "seq=2") || !strings.Contains(line, "edited after it was written") {
		t.Errorf("the log does not name the tampered file and its break:\n%s", line)
	}
	if strings.Contains(line, intact) || strings.Contains(line, old) {
		t.Errorf("the log names a file that is not broken or was not looked at:\n%s", line)
	}

	// The next pass looks only at what changed since: the same break is
	// not counted twice, however often it is seen.
	if _, _, err := v.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if err := files.Move(ctx, tampered, filestore.Change{Status: filestatus.Rejected}); err != nil {
		t.Fatal(err)
	}
	if _, broken, err := v.Pass(ctx); err != nil || broken != 1 {
		t.Fatalf("pass after the tampered file changed again: %d broken, %v; want it found again", broken, err)
	}
	if _, globex := failures(); globex != 1 {
		t.Errorf("globex failures %v after the same break was seen again, want 1", globex)
	}

	// A restarted worker remembers nothing and looks back a day: it
	// finds the break again and counts it in its own process.
	if _, broken, err := newVerifier().Pass(ctx); err != nil || broken != 1 {
		t.Fatalf("a new verifier's first pass: %d broken, %v; want the tampered trail", broken, err)
	}
}

// recordFile writes a file's record, as the workflow would, at a given
// time; with trail, also its audit chain.
func recordFile(t *testing.T, files *filestore.Store, trails *audit.Store, partner string, at time.Time, status filestatus.Status, trail bool) string {
	t.Helper()
	ctx := context.Background()
	id := stacktest.Unique("ingest-" + partner + "-")
	files.Now = func() time.Time { return at }
	defer func() { files.Now = func() time.Time { return time.Now().UTC() } }()
	if _, _, err := files.Receive(ctx, filestore.File{FileID: id, Partner: partner, Bucket: "landing", Key: partner + "/inbound/" + id + ".csv", VersionID: "v1"}); err != nil {
		t.Fatal(err)
	}
	if status != filestatus.Received {
		for _, s := range []filestatus.Status{filestatus.Inspecting, status} {
			if err := files.Move(ctx, id, filestore.Change{Status: s}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if trail {
		for _, e := range chain(id) {
			if err := trails.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	return id
}

// ownMark keeps the verifier's progress under a name of this test's own
// in the real files table, so the test runs alone whatever ran before.
type ownMark struct {
	files *filestore.Store
	name  string
}

func (m ownMark) Mark(ctx context.Context, name string) (time.Time, error) {
	return m.files.Mark(ctx, m.name+name)
}

func (m ownMark) SetMark(ctx context.Context, name string, at time.Time) error {
	return m.files.SetMark(ctx, m.name+name, at)
}

// A restarted worker goes on from where the last complete pass began (kept
// in the files table) instead of reading a day of trails again, and a
// pass does not read again a chain the previous one verified unchanged.
func TestVerifierGoesOnFromTheLastCompletePass(t *testing.T) {
	stack := stacktest.Require(t, stacktest.DynamoDB)
	ctx := context.Background()
	files, trails := stack.FilesTable(t), stack.AuditTable(t)
	now := time.Now().UTC()
	// Broken two hours ago: a first pass ever finds it, a restart after
	// a complete pass need not.
	old := recordFile(t, files, trails, "acme", now.Add(-2*time.Hour), filestatus.Quarantined, true)
	editDetails(t, trails, old, 2, "approved")
	recent := recordFile(t, files, trails, "acme", now.Add(-10*time.Second), filestatus.Quarantined, true)

	progress := ownMark{files: files, name: stacktest.Unique("test-")}
	_, in := metricstest.Instruments(t, "acme")
	newVerifier := func() *audit.Verifier {
		return &audit.Verifier{Files: files, Trails: trails, Progress: progress, Metrics: in, Interval: time.Hour,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	}
	v := newVerifier()
	if verified, broken, err := v.Pass(ctx); err != nil || verified < 2 || broken < 1 {
		t.Fatalf("first pass ever: %d verified, %d broken, %v; want both files read (a day back) and the old one broken", verified, broken, err)
	}
	// The recent file is in the overlap, unchanged since: not read again.
	if verified, _, err := v.Pass(ctx); err != nil || verified != 0 {
		t.Fatalf("second pass: %d verified, %v; want 0 (nothing changed since the first)", verified, err)
	}
	if err := files.Move(ctx, recent, filestore.Change{Status: filestatus.Rejected}); err != nil {
		t.Fatal(err)
	}
	if verified, _, err := v.Pass(ctx); err != nil || verified != 1 {
		t.Fatalf("pass after a file changed: %d verified, %v; want the changed one read again", verified, err)
	}

	// A new process reads the last complete pass's start: the recent
	// change is within the overlap and read again, the old break is not.
	verified, broken, err := newVerifier().Pass(ctx)
	if err != nil || broken != 0 || verified < 1 {
		t.Fatalf("restarted verifier: %d verified, %d broken, %v; want the recent file read again and the file changed two hours ago not", verified, broken, err)
	}

	// The mark only moves forward: replicas finishing in any order.
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	name := stacktest.Unique("test-order-")
	for _, at := range []time.Time{later, earlier} {
		if err := files.SetMark(ctx, name, at); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := files.Mark(ctx, name); err != nil || !got.Equal(later) {
		t.Errorf("mark after setting %s then %s: %s, %v; want the later", later, earlier, got, err)
	}
	if got, err := files.Mark(ctx, stacktest.Unique("test-unset-")); err != nil || !got.IsZero() {
		t.Errorf("a mark never set: %s, %v; want the zero time", got, err)
	}
}
