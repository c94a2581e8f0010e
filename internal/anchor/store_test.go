//go:build integration

package anchor_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/stacktest"
)

var key = []byte("integration-anchor-key-0123456789")

// anchors gives a fresh anchor bucket, made as provision makes it.
func anchors(t *testing.T, st *stacktest.Stack) *anchor.Store {
	t.Helper()
	bucket := st.Bucket(t, true)
	if err := anchor.CreateBucket(context.Background(), st.AWS.S3, bucket, 1); err != nil {
		t.Fatal(err)
	}
	return &anchor.Store{S3: st.AWS.S3, Bucket: bucket, RetentionDays: 1, Key: key}
}

// appendChain writes n entries for fileID through the audit store, as
// the workflow's activities do.
func appendChain(t *testing.T, trails *audit.Store, fileID string, n int) []audit.Entry {
	t.Helper()
	var es []audit.Entry
	for i := range n {
		var prev *audit.Entry
		if i > 0 {
			prev = &es[i-1]
		}
		e := audit.Next(prev, fileID, time.Now(), "ferry", "status:step", "step "+string(rune('a'+i)))
		if err := trails.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

// RewriteChain is what someone with write access to the audit table can
// do: edit an entry and recompute every hash after it with the audit
// package, writing over the stored items, so audit.Verify passes.
func rewriteChain(t *testing.T, trails *audit.Store, fileID string, seq int64, details string) []audit.Entry {
	t.Helper()
	ctx := context.Background()
	es, err := trails.List(ctx, fileID)
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for i, e := range es {
		var prev *audit.Entry
		if i > 0 {
			prev = &out[i-1]
		}
		if e.Seq == seq {
			e.Details = details
		}
		at, err := time.Parse(time.RFC3339Nano, e.At)
		if err != nil {
			t.Fatal(err)
		}
		ne := audit.Next(prev, e.FileID, at, e.Actor, e.Action, e.Details)
		item, err := attributevalue.MarshalMap(ne)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := trails.DB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(trails.Table), Item: item}); err != nil {
			t.Fatal(err)
		}
		out = append(out, ne)
	}
	got, err := trails.List(ctx, fileID)
	if err != nil {
		t.Fatal(err)
	}
	if b := audit.Verify(got); b != nil {
		t.Fatalf("the rewritten chain must verify on its own: %v", b)
	}
	return got
}

// An anchor is locked in COMPLIANCE mode: retention is set, its version
// cannot be deleted, and an overwrite (or a forged later version) leaves
// it in place, where Check still reads it.
func TestAnchorsAreLockedInComplianceMode(t *testing.T) {
	st := stacktest.Require(t, stacktest.S3)
	s := anchors(t, st)
	ctx := context.Background()
	h := anchor.Head{FileID: "ingest-acme-anchored", Seq: 3, Hash: strings.Repeat("ab", 32)}
	k, err := s.AnchorFile(ctx, h, "test")
	if err != nil {
		t.Fatal(err)
	}
	head, err := st.AWS.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k)})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockMode != types.ObjectLockModeCompliance {
		t.Fatalf("anchor's lock mode %q, want COMPLIANCE", head.ObjectLockMode)
	}
	if until := aws.ToTime(head.ObjectLockRetainUntilDate); until.Before(time.Now().Add(23*time.Hour)) || until.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("retained until %s, want a day from now (retention_days 1)", until)
	}
	version := aws.ToString(head.VersionId)
	if _, err := st.AWS.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k), VersionId: aws.String(version),
		BypassGovernanceRetention: aws.Bool(true)}); err == nil {
		t.Fatal("deleting the locked anchor version succeeded")
	}
	// Anchoring the same head again writes nothing (If-None-Match).
	if _, err := s.AnchorFile(ctx, h, "test again"); err != nil {
		t.Fatal(err)
	}
	// An overwrite by someone who may write to the bucket but lacks the
	// key: a new version, unsigned, that claims another hash.
	forged, err := anchor.Seal(anchor.Document{Format: 1, Kind: anchor.KindFile, By: "forger", Heads: []anchor.Head{{FileID: h.FileID, Seq: 3, Hash: strings.Repeat("cd", 32)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k), Body: bytes.NewReader(forged)}); err != nil {
		t.Fatalf("overwriting: %v", err)
	}
	got, err := s.FileAnchors(ctx, h.FileID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].VersionID != version || got[0].Err != nil || !got[0].Opened.Authentic {
		t.Fatalf("anchor versions %+v: want the locked original first, genuine, then the overwrite", got)
	}
	if got[1].Err == nil {
		t.Fatal("the unsigned overwrite was taken as genuine")
	}
	// A delete without a version only adds a marker: the anchor stays.
	if _, err := st.AWS.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k)}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.FileAnchors(ctx, h.FileID); err != nil || len(got) != 2 {
		t.Fatalf("after a delete marker: %d anchors, %v", len(got), err)
	}
}

// The test: a chain recomputed consistently in DynamoDB after it
// was anchored verifies as a chain, and Check catches it.
func TestCheckCatchesAChainRecomputedAfterAnchoring(t *testing.T) {
	st := stacktest.Require(t, stacktest.S3, stacktest.DynamoDB)
	s := anchors(t, st)
	trails := st.AuditTable(t)
	ctx := context.Background()
	id := stacktest.Unique("ingest-acme-")
	es := appendChain(t, trails, id, 4)
	last := es[len(es)-1]
	k, err := s.AnchorFile(ctx, anchor.Head{FileID: id, Seq: last.Seq, Hash: last.Hash}, "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Check(ctx, id, es)
	if err != nil || r.Status != anchor.Verified || r.Latest.Key != k || !r.Latest.Authentic {
		t.Fatalf("before the rewrite: %+v, %v", r, err)
	}
	if b, err := s.CheckAnchors(ctx, id, es); b != nil || err != nil {
		t.Fatalf("CheckAnchors before the rewrite: %v, %v", b, err)
	}

	rewritten := rewriteChain(t, trails, id, 2, "softened")
	r, err = s.Check(ctx, id, rewritten)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != anchor.Mismatch || !strings.Contains(r.String(), "entry 4 now has hash") || !strings.Contains(r.String(), k) {
		t.Fatalf("after the rewrite: %s", r)
	}
	if b, err := s.CheckAnchors(ctx, id, rewritten); b == nil || err != nil || b.Seq != 4 {
		t.Fatalf("CheckAnchors after the rewrite: %v, %v", b, err)
	}
}

// A checkpoint anchors the heads of the files changed since the previous
// one, each under its file's prefix too, and names the previous
// checkpoint; VerifyCheckpoints follows the chain and shows a gap.
func TestCheckpointsAnchorChangedChainsAndChainTogether(t *testing.T) {
	st := stacktest.Require(t, stacktest.S3, stacktest.DynamoDB)
	s := anchors(t, st)
	files := st.FilesTable(t)
	trails := st.AuditTable(t)
	ctx := context.Background()
	acts := &anchor.Activities{Anchors: s, Files: files, Trails: trails}

	waiting := stacktest.Unique("ingest-acme-")
	if _, _, err := files.Receive(ctx, filestore.File{FileID: waiting, Partner: "acme", Bucket: "landing", Key: "acme/inbound/w", VersionID: "v"}); err != nil {
		t.Fatal(err)
	}
	es := appendChain(t, trails, waiting, 2)
	if err := files.Move(ctx, waiting, filestore.Change{Status: filestatus.Quarantined}); err != nil {
		t.Fatal(err)
	}
	first, err := acts.WriteCheckpoint(ctx, &anchor.CheckpointInput{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Heads < 1 {
		t.Fatalf("first checkpoint %+v anchors no head", first)
	}
	r, err := s.Check(ctx, waiting, es)
	if err != nil || r.Status != anchor.Verified || r.Latest.Seq != 2 {
		t.Fatalf("the waiting file's chain after the checkpoint: %+v, %v", r, err)
	}

	// The file grows (a decision while it waits) and the next checkpoint
	// anchors its new head and chains to the first.
	es = append(es, audit.Next(&es[1], waiting, time.Now(), "alice", "approve", "ok"))
	if err := trails.Append(ctx, es[2]); err != nil {
		t.Fatal(err)
	}
	if err := files.Move(ctx, waiting, filestore.Change{Status: filestatus.Approved}); err != nil {
		t.Fatal(err)
	}
	second, err := acts.WriteCheckpoint(ctx, &anchor.CheckpointInput{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Previous != first.Key || !second.Since.Before(first.Until) {
		t.Fatalf("second checkpoint %+v does not follow the first %+v", second, first)
	}
	if r, err := s.Check(ctx, waiting, es); err != nil || r.Status != anchor.Verified || r.Latest.Seq != 3 {
		t.Fatalf("after the second checkpoint: %+v, %v", r, err)
	}
	n, problems, err := s.VerifyCheckpoints(ctx, time.Time{})
	if err != nil || n != 2 || len(problems) != 0 {
		t.Fatalf("VerifyCheckpoints: %d read, problems %+v, %v", n, problems, err)
	}

	// Someone slips a checkpoint in (signed, even): the one after it no
	// longer names its predecessor.
	sneaked, err := anchor.Seal(anchor.Document{Format: 1, Kind: anchor.KindCheckpoint, By: "someone"}, key)
	if err != nil {
		t.Fatal(err)
	}
	between := anchor.CheckpointKey(first.Until.Add(time.Millisecond))
	if _, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(between), Body: bytes.NewReader(sneaked)}); err != nil {
		t.Fatal(err)
	}
	_, problems, err = s.VerifyCheckpoints(ctx, time.Time{})
	if err != nil || len(problems) != 2 {
		t.Fatalf("after a checkpoint was slipped in: problems %+v, %v", problems, err)
	}
	if !strings.Contains(problems[1].Problem, "follows "+first.Key+", not "+between) {
		t.Fatalf("problems %+v", problems)
	}
}
