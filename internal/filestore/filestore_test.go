//go:build integration

package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestReceiveIsIdempotentAndMovesNeverGoBackwards(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB).FilesTable(t)
	ctx := context.Background()
	f := filestore.File{FileID: "ingest-acme-1", Partner: "acme", Bucket: "landing", Key: "acme/inbound/a.csv", VersionID: "v1", Size: 3}

	got, created, err := st.Receive(ctx, f)
	if err != nil || !created || got.Status != filestatus.Received {
		t.Fatalf("first Receive = %+v, %v, %v", got, created, err)
	}
	for _, c := range []filestore.Change{
		{Status: filestatus.Inspecting},
		{Status: filestatus.Delivering, SHA256: "abc", Size: 3, S3Checksum: "RbrvGg==", S3ChecksumAlg: "CRC32C"},
		{Status: filestatus.Delivered, DestBucket: "delivered", DestKey: "acme/a.csv", DestVersionID: "dv1"},
		{Status: filestatus.Delivered, DestBucket: "delivered", DestKey: "acme/a.csv", DestVersionID: "dv1"}, // a retried write
	} {
		if err := st.Move(ctx, f.FileID, c); err != nil {
			t.Fatalf("Move to %s: %v", c.Status, err)
		}
	}

	// A replayed event finds the record and changes nothing.
	got, created, err = st.Receive(ctx, f)
	if err != nil || created || got.Status != filestatus.Delivered {
		t.Fatalf("second Receive = %+v, %v, %v; want the existing delivered record", got, created, err)
	}

	for _, back := range []filestatus.Status{filestatus.Inspecting, filestatus.Received, filestatus.Failed, filestatus.Delivering} {
		err := st.Move(ctx, f.FileID, filestore.Change{Status: back})
		var conflict *filestore.StatusConflictError
		if !errors.As(err, &conflict) || conflict.Current != filestatus.Delivered {
			t.Errorf("Move delivered -> %s: got %v, want a StatusConflictError naming delivered", back, err)
		}
	}

	rec, err := st.Get(ctx, f.FileID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != filestatus.Delivered || rec.SHA256 != "abc" || rec.DestVersionID != "dv1" || rec.S3ChecksumAlg != "CRC32C" {
		t.Errorf("record = %+v", rec)
	}
	for _, s := range []filestatus.Status{filestatus.Received, filestatus.Inspecting, filestatus.Delivering, filestatus.Delivered} {
		if rec.StageTimes[string(s)] == "" {
			t.Errorf("no time recorded for stage %s: %v", s, rec.StageTimes)
		}
	}
}

func TestMoveUnknownFile(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB).FilesTable(t)
	err := st.Move(context.Background(), "ingest-acme-nope", filestore.Change{Status: filestatus.Inspecting})
	if !errors.Is(err, filestore.ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestListByStatusUsesTheIndex(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB).FilesTable(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if _, _, err := st.Receive(ctx, filestore.File{FileID: id, Partner: "acme", Bucket: "landing", Key: id, VersionID: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Move(ctx, "b", filestore.Change{Status: filestatus.Failed, Reasons: []string{"file is empty", "file is empty"}}); err != nil {
		t.Fatal(err)
	}
	failed, err := st.ListByStatus(ctx, filestatus.Failed, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0].FileID != "b" || len(failed[0].Reasons) != 1 {
		t.Fatalf("failed files = %+v, want only b with its one reason", failed)
	}
	received, err := st.ListByStatus(ctx, filestatus.Received, 10)
	if err != nil || len(received) != 2 {
		t.Fatalf("received files = %+v, %v; want a and c", received, err)
	}
}

// ListUpdatedSince finds the files whose record changed since a time,
// whatever their status, and none that did not.
func TestListUpdatedSince(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB).FilesTable(t)
	ctx := context.Background()
	clock := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return clock }
	receive := func(id string) {
		t.Helper()
		if _, _, err := st.Receive(ctx, filestore.File{FileID: id, Partner: "acme", Bucket: "landing", Key: "acme/inbound/" + id, VersionID: "v"}); err != nil {
			t.Fatal(err)
		}
	}
	move := func(id string, s filestatus.Status) {
		t.Helper()
		if err := st.Move(ctx, id, filestore.Change{Status: s}); err != nil {
			t.Fatal(err)
		}
	}
	receive("old")      // 12:00:00, never again
	receive("moved")    // 12:00:00, moves after the bound
	receive("received") // received after the bound
	clock = clock.Add(time.Hour)
	since := clock // 13:00:00 exactly: a record written at the bound counts
	move("moved", filestatus.Inspecting)
	clock = clock.Add(500 * time.Millisecond)
	move("moved", filestatus.Quarantined)
	receive("new")
	clock = clock.Add(time.Second)
	move("received", filestatus.Failed) // "received" was received at 12:00, fails now

	got, err := st.ListUpdatedSince(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]filestatus.Status{}
	for _, f := range got {
		if _, dup := status[f.FileID]; dup {
			t.Errorf("%s listed twice", f.FileID)
		}
		status[f.FileID] = f.Status
		if f.Partner != "acme" || f.Key != "acme/inbound/"+f.FileID {
			t.Errorf("%s listed without its identity: %+v", f.FileID, f)
		}
	}
	want := map[string]filestatus.Status{"moved": filestatus.Quarantined, "new": filestatus.Received, "received": filestatus.Failed}
	if !maps.Equal(status, want) {
		t.Fatalf("updated since %s: %v, want %v", since, status, want)
	}
}

// Recorded answers for any number of files, a hundred per request, and
// names exactly those with a record, whatever repeats in the question.
func TestRecordedAnswersForAWholeListing(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB).FilesTable(t)
	ctx := context.Background()
	prefix := stacktest.Unique("ingest-acme-recorded-")
	var ids []string
	want := map[string]bool{}
	for i := range 250 {
		id := fmt.Sprintf("%s%03d", prefix, i)
		ids = append(ids, id)
		if i%3 == 0 {
			want[id] = true
			if _, _, err := st.Receive(ctx, filestore.File{FileID: id, Partner: "acme", Bucket: "landing", Key: "acme/inbound/" + id, VersionID: "v1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	ids = append(ids, ids[0], ids[1]) // a listing may name a version twice
	got, err := st.Recorded(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("Recorded named %d files (%d of them wrongly), want the %d with a record", len(got), len(got)-countIn(got, want), len(want))
	}
	if got, err := st.Recorded(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("Recorded(nothing) = %v, %v; want an empty answer", got, err)
	}
}

func countIn(got, want map[string]bool) int {
	n := 0
	for id := range got {
		if want[id] {
			n++
		}
	}
	return n
}
