//go:build integration

package activities_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// An append that meets another entry under its number is refused for
// good and counted as a failed verification of the partner's trail; a
// retried append of the identical entry is neither.
func TestAuditConflictCountsAsAVerificationFailure(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB)
	exp, in := metricstest.Instruments(t, "acme", "globex")
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Audit: st.AuditTable(t), Metrics: in})

	id := fileid.WorkflowID("acme", "landing", "acme/inbound/"+stacktest.Unique("a-")+".csv", "v1")
	first := audit.Next(nil, id, time.Now(), "ferry", "status:received", "")
	for range 2 { // the second is a retried activity
		if _, err := env.ExecuteActivity(activities.AppendAuditName, &first); err != nil {
			t.Fatalf("appending entry 1: %v", err)
		}
	}
	acme := map[string]string{"partner": "acme"}
	if v, _ := metricstest.Gather(t, exp.Registry).Value(metrics.AuditVerificationFailuresTotal, acme); v != 0 {
		t.Fatalf("an intact trail counted %v failures", v)
	}
	forged := audit.Next(nil, id, time.Now(), "mallory", "approve", "let it through")
	_, err := env.ExecuteActivity(activities.AppendAuditName, &forged)
	appErr(t, err, activities.ErrAuditConflict)
	m := metricstest.Gather(t, exp.Registry)
	if v, _ := m.Value(metrics.AuditVerificationFailuresTotal, acme); v != 1 {
		t.Errorf("%s{partner=acme} = %v after a conflicting append, want 1", metrics.AuditVerificationFailuresTotal, v)
	}
	if got := m.Labels(metrics.AuditVerificationFailuresTotal, "partner"); len(got) != 1 {
		t.Errorf("failures counted for partners %v, want acme's alone", got)
	}
}

// A workflow step that runs a second time (its worker was killed, or
// Temporal lost the workflow task, after the first run wrote its audit
// entry) proposes the entry anew at a later time. The activities answer
// with the stored entry, for the chain to go on from, instead of refusing
// it as tampering: the worker chaos fault test failed files this way.
func TestAuditEntryOfAStepRunAgainIsTheStoredOne(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB)
	exp, in := metricstest.Instruments(t, "acme")
	trails := st.AuditTable(t)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Audit: trails, Files: st.FilesTable(t), Metrics: in})

	key := "acme/inbound/" + stacktest.Unique("a-") + ".csv"
	id := fileid.WorkflowID("acme", "landing", key, "v1")
	t0 := time.Now()
	first := audit.Next(nil, id, t0, "ferry", "status:received", "")
	if _, err := env.ExecuteActivity(activities.RecordReceivedName, &activities.RecordReceivedInput{
		File: activities.FileRef{FileID: id, Partner: "acme", Bucket: "landing", Key: key, VersionID: "v1"}, Audit: &first,
	}); err != nil {
		t.Fatal(err)
	}

	// A status change, run twice.
	moved := audit.Next(&first, id, t0.Add(time.Second), "ferry", "status:inspecting", "")
	movedAgain := audit.Next(&first, id, t0.Add(15*time.Second), "ferry", "status:inspecting", "")
	var got activities.RecordStatusResult
	for _, e := range []audit.Entry{moved, movedAgain} {
		val, err := env.ExecuteActivity(activities.RecordStatusName, &activities.RecordStatusInput{
			FileID: id, Change: filestore.Change{Status: filestatus.Inspecting}, Audit: &e,
		})
		if err != nil {
			t.Fatalf("recording %s at %s: %v", e.Action, e.At, err)
		}
		if err := val.Get(&got); err != nil || got.Audit == nil || got.Audit.Hash != moved.Hash {
			t.Fatalf("recording %s at %s answered %+v (%v), want the entry stored first (%s)", e.Action, e.At, got.Audit, err, moved.At)
		}
	}

	// A decision's entry, run twice.
	approved := audit.Next(&moved, id, t0.Add(time.Minute), "alice", "approve", "checked")
	approvedAgain := audit.Next(&moved, id, t0.Add(2*time.Minute), "alice", "approve", "checked")
	for _, e := range []audit.Entry{approved, approvedAgain} {
		val, err := env.ExecuteActivity(activities.AppendAuditName, &e)
		if err != nil {
			t.Fatalf("appending %s at %s: %v", e.Action, e.At, err)
		}
		var stored audit.Entry
		if err := val.Get(&stored); err != nil || stored.Hash != approved.Hash {
			t.Fatalf("appending %s at %s answered %+v (%v), want the entry stored first", e.Action, e.At, stored, err)
		}
	}
	trail, err := trails.List(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if b := audit.Verify(trail); b != nil || len(trail) != 3 {
		t.Errorf("the trail holds %d entries (%s), want 3 that verify: %v", len(trail), audit.Summary(trail), b)
	}
	if v, _ := metricstest.Gather(t, exp.Registry).Value(metrics.AuditVerificationFailuresTotal, map[string]string{"partner": "acme"}); v != 0 {
		t.Errorf("a step run again counted %v audit verification failures", v)
	}
}

// recordFixture is an activity environment writing to real record and
// audit tables (dynalite), and a new file of acme's.
func recordFixture(t *testing.T) (*testsuite.TestActivityEnvironment, *filestore.Store, *audit.Store, activities.FileRef) {
	st := stacktest.Require(t, stacktest.DynamoDB)
	files, trails := st.FilesTable(t), st.AuditTable(t)
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Audit: trails, Files: files})
	ref := activities.FileRef{Partner: "acme", Bucket: "landing", Key: "acme/inbound/" + stacktest.Unique("a-") + ".csv", VersionID: "v1"}
	ref.FileID = fileid.WorkflowID("acme", ref.Bucket, ref.Key, ref.VersionID)
	return env, files, trails, ref
}

// The record and the first audit entry are two writes: a worker killed
// (or DynamoDB gone) between them leaves a record without a trail. The
// step's next run writes the entry, and the trail starts at 1; the worker
// chaos fault test found a trail starting at entry 2.
func TestRecordReceivedWritesTheFirstEntryARecordLacks(t *testing.T) {
	env, files, trails, ref := recordFixture(t)
	// The first run wrote the record, then died.
	if _, _, err := files.Receive(context.Background(), filestore.File{FileID: ref.FileID, Partner: ref.Partner, Bucket: ref.Bucket, Key: ref.Key, VersionID: ref.VersionID}); err != nil {
		t.Fatal(err)
	}
	first := audit.Next(nil, ref.FileID, time.Now(), "ferry", "status:received", "")
	val, err := env.ExecuteActivity(activities.RecordReceivedName, &activities.RecordReceivedInput{File: ref, Audit: &first})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.RecordReceivedResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if !res.AlreadyKnown || res.AuditHead == nil || res.AuditHead.Hash != first.Hash {
		t.Errorf("answered %+v, want the file known, its trail's head the first entry", res)
	}
	trail, err := trails.List(context.Background(), ref.FileID)
	if err != nil {
		t.Fatal(err)
	}
	if b := audit.Verify(trail); b != nil || len(trail) != 1 {
		t.Errorf("the trail holds %d entries (%s), want the first alone: %v", len(trail), audit.Summary(trail), b)
	}
}

// A run whose first workflow task was lost after it had taken the file
// to delivered (the fast path does it all in one task) records it again:
// RecordReceived says it is the same run and hands back the first entry,
// which its own first entry restates, so the run goes on from there; for
// another run it is the trail's last entry, and a duplicate.
func TestRecordReceivedTellsItsOwnEarlierAttemptFromAnotherRun(t *testing.T) {
	env, files, trails, ref := recordFixture(t)
	ctx := context.Background()
	record := func(run string, at time.Time) activities.RecordReceivedResult {
		t.Helper()
		first := audit.Next(nil, ref.FileID, at, "ferry", "status:received", "s3://landing/"+ref.Key)
		val, err := env.ExecuteActivity(activities.RecordReceivedName, &activities.RecordReceivedInput{File: ref, RunID: run, Audit: &first})
		if err != nil {
			t.Fatalf("recording for run %s: %v", run, err)
		}
		var res activities.RecordReceivedResult
		if err := val.Get(&res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := record("run-1", time.Now())
	if first.AlreadyKnown || first.SameRun {
		t.Fatalf("a new file answered %+v", first)
	}
	// The first attempt went on to delivered, then its task was lost.
	one, err := trails.List(ctx, ref.FileID)
	if err != nil || len(one) != 1 {
		t.Fatalf("trail %v, %v", one, err)
	}
	delivered := audit.Next(&one[0], ref.FileID, time.Now(), "ferry", "status:delivered", "delivered")
	if err := trails.Append(ctx, delivered); err != nil {
		t.Fatal(err)
	}
	if err := files.Move(ctx, ref.FileID, filestore.Change{Status: filestatus.Delivered}); err != nil {
		t.Fatal(err)
	}

	again := record("run-1", time.Now().Add(time.Second)) // the same run, at its new workflow time
	if !again.SameRun || again.Status != filestatus.Delivered || again.AuditHead == nil || again.AuditHead.Seq != 1 || again.AuditHead.Hash != one[0].Hash {
		t.Errorf("the same run answered %+v, want SameRun, delivered, its stored first entry as the head", again)
	}
	other := record("run-2", time.Now())
	if other.SameRun || !other.AlreadyKnown || other.AuditHead == nil || other.AuditHead.Seq != 2 {
		t.Errorf("another run answered %+v, want known, not the same run, the trail's last entry", other)
	}
}

// A workflow task Temporal never recorded (the server restarted while its
// local activities ran) had moved the file on, past an approval to
// delivered; its next run records the approval again. The record is past
// that status, but the trail holds the approval's entry: the step answers
// with it and leaves the record where it is. A change the trail does not
// hold is refused for good, as before: a file never moves backwards.
func TestStatusStepRunAgainAfterTheFileMovedOn(t *testing.T) {
	env, files, _, ref := recordFixture(t)
	ctx := context.Background()
	t0 := time.Now()
	first := audit.Next(nil, ref.FileID, t0, "ferry", "status:received", "")
	if _, err := env.ExecuteActivity(activities.RecordReceivedName, &activities.RecordReceivedInput{File: ref, Audit: &first}); err != nil {
		t.Fatal(err)
	}
	step := func(prev *audit.Entry, s filestatus.Status, at time.Time, details string) (audit.Entry, *activities.RecordStatusResult, error) {
		e := audit.Next(prev, ref.FileID, at, "ferry", "status:"+string(s), details)
		val, err := env.ExecuteActivity(activities.RecordStatusName, &activities.RecordStatusInput{FileID: ref.FileID, Change: filestore.Change{Status: s}, Audit: &e})
		if err != nil {
			return e, nil, err
		}
		var res activities.RecordStatusResult
		return e, &res, val.Get(&res)
	}
	inspecting, _, err := step(&first, filestatus.Inspecting, t0.Add(time.Second), "")
	if err != nil {
		t.Fatal(err)
	}
	delivering, _, err := step(&inspecting, filestatus.Delivering, t0.Add(2*time.Second), "approved by alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := step(&delivering, filestatus.Delivered, t0.Add(3*time.Second), ""); err != nil {
		t.Fatal(err)
	}

	// The lost task's next run: the same change, later.
	_, res, err := step(&inspecting, filestatus.Delivering, t0.Add(time.Minute), "approved by alice")
	if err != nil || res.Audit == nil || res.Audit.Hash != delivering.Hash {
		t.Fatalf("the step run again answered %+v, %v; want the stored entry", res, err)
	}
	if f, err := files.Get(ctx, ref.FileID); err != nil || f.Status != filestatus.Delivered {
		t.Fatalf("record after the step ran again: %+v, %v; want it still delivered", f, err)
	}

	// Another change under that number, or one past the trail's end.
	for _, tc := range []struct {
		prev    *audit.Entry
		details string
	}{{&inspecting, "approved by mallory"}, {&delivering, ""}} {
		_, _, err := step(tc.prev, filestatus.Delivering, t0.Add(2*time.Minute), tc.details)
		if err == nil || !strings.Contains(err.Error(), "never moves backwards") {
			t.Errorf("moving a delivered file back (%q after entry %d): %v, want it refused", tc.details, tc.prev.Seq, err)
		}
	}
}
