//go:build integration

package audit_test

import (
	"bytes"
	"context"
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
	// record writes a file's record, as the workflow would, at a given
	// time; with trail, also its audit chain.
	record := func(partner string, at time.Time, status filestatus.Status, trail bool) string {
		t.Helper()
		id := stacktest.Unique("ingest-" + partner + "-")
		files.Now = func() time.Time { return at }
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
