//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The test: a delivered file's trail is anchored at its final
// status; someone with write access to DynamoDB then edits an entry and
// recomputes the whole chain with the audit package, so the chain
// verifies on its own — and `ferry audit` catches it against the anchor.
func TestFerryAuditCatchesAChainRecomputedAfterItWasAnchored(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	ctx := context.Background()
	key := stacktest.Unique("acme/inbound/anchored-") + ".csv"
	put, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(st.Config.Landing.Bucket), Key: aws.String(key), Body: bytes.NewReader([]byte("id,amount\n1,10\n")),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := fileid.WorkflowID("acme", st.Config.Landing.Bucket, key, aws.ToString(put.VersionId))
	waitStarted(t, st, id, 30*time.Second)
	if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered", res)
	}

	// Before: the trail matches its anchor, written at the final status.
	anchorKey := ""
	out, err := ferryAudit(t, st, "--file-id", id)
	if err != nil || !strings.Contains(out, "chain intact; "+id+": matches its") || !strings.Contains(out, "signature verified") {
		t.Fatalf("ferry audit before the rewrite: %v\n%s", err, out)
	}
	trails := &audit.Store{DB: st.AWS.DynamoDB, Table: st.Config.DynamoDB.AuditTable}
	es, err := trails.List(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	anchorKey = anchor.FileKey(id, es[len(es)-1].Seq)
	if !strings.Contains(out, anchorKey) {
		t.Fatalf("ferry audit does not name the anchor %s written at the final status:\n%s", anchorKey, out)
	}

	// The rewrite: the received entry now names another source, every
	// hash recomputed, written over the stored items.
	var rewritten []audit.Entry
	for i, e := range es {
		var prev *audit.Entry
		if i > 0 {
			prev = &rewritten[i-1]
		}
		if e.Seq == 1 {
			e.Details = strings.Replace(e.Details, key, "acme/inbound/something-else.csv", 1)
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
		if _, err := st.AWS.DynamoDB.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(trails.Table), Item: item}); err != nil {
			t.Fatal(err)
		}
		rewritten = append(rewritten, ne)
	}
	got, err := trails.List(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if b := audit.Verify(got); b != nil || got[0].Hash == es[0].Hash {
		t.Fatalf("the rewrite must leave a chain that verifies on its own, with other hashes: %v", b)
	}

	out, err = ferryAudit(t, st, "--file-id", id)
	want := fmt.Sprintf("ANCHOR MISMATCH %s: does NOT match", id)
	if err == nil || !strings.Contains(out, want) || !strings.Contains(out, anchorKey) || !strings.Contains(out, "rewritten after it was anchored") {
		t.Fatalf("ferry audit after the rewrite: %v, want exit 1 and %q naming %s\n%s", err, want, anchorKey, out)
	}
	out, err = ferryAudit(t, st, "--partner", "acme")
	if err == nil || !strings.Contains(out, "ANCHOR MISMATCH "+id) {
		t.Fatalf("ferry audit --partner missed the rewrite: %v\n%s", err, out)
	}
}

// The ferry-audit-anchor schedule, triggered as an operator would, writes
// a checkpoint that chains to the one before; `ferry audit --checkpoints`
// verifies the chain.
func TestAuditAnchorScheduleWritesChainedCheckpoints(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	ctx := context.Background()
	s := anchor.FromConfig(st.AWS.S3, st.Config)
	count := func() int {
		t.Helper()
		n := 0
		p := s3.NewListObjectsV2Paginator(st.AWS.S3, &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String("anchors/checkpoints/")})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Contents)
		}
		return n
	}
	for range 2 {
		before := count()
		if out, err := exec.Command(st.TemporalCLI(), "schedule", "trigger", "--address", st.Config.Temporal.Address,
			"--schedule-id", anchor.ScheduleID).CombinedOutput(); err != nil {
			t.Fatalf("temporal schedule trigger: %v\n%s", err, out)
		}
		stacktest.Eventually(t, time.Minute, func() (bool, string) {
			return count() > before, fmt.Sprintf("no new checkpoint in s3://%s/anchors/checkpoints/ (%d before the trigger)", s.Bucket, before)
		})
	}
	out, err := ferryAudit(t, st, "--checkpoints")
	if err != nil || !strings.Contains(out, "each genuine and chained to the one before") {
		t.Fatalf("ferry audit --checkpoints: %v\n%s", err, out)
	}
}
