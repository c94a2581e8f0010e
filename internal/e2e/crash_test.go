//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// TestWorkerKilledDuringMultipartCopyResumes kills the worker process with
// SIGKILL while it copies a file in parts, starts a new one, and checks
// the new attempt continued the same multipart upload and delivered the
// exact bytes.
func TestWorkerKilledDuringMultipartCopyResumes(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)

	// 480 MiB of text: far above the local stack's 64 MiB multipart
	// threshold (15 parts of delivery.part_size_bytes, 32 MiB), and valid UTF-8
	// for acme's content check.
	name := stacktest.Unique("large-") + ".csv"
	path := filepath.Join(t.TempDir(), name)
	header := fmt.Appendf(nil, "file,%s\n", name)
	block := bytes.Repeat([]byte("lot,0000123,assay,98.7,passed,2026-11-24T06:00:00Z\n"), 20_000)
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	w := io.MultiWriter(fh, sum)
	_, _ = w.Write(header)
	var size int64 = int64(len(header))
	for size < 480<<20 {
		n, _ := w.Write(block)
		size += int64(n)
	}
	fh.Close()
	wantSHA := hex.EncodeToString(sum.Sum(nil))

	t.Cleanup(func() {
		st.RemoveVersions(t, "landing", "acme/inbound/"+name)
		st.RemoveVersions(t, "delivered", "acme/"+name)
	})
	if out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "put "+path); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	id := findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey="acme/inbound/%s"`, name))

	// Wait until the Deliver activity has heartbeated its upload ID and S3
	// lists at least two finished parts of it, then kill the worker in the
	// middle of the copy.
	var progress activities.CopyProgress
	var partsDone int
	stacktest.Eventually(t, 2*time.Minute, func() (bool, string) {
		desc, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		if desc.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the workflow finished before the worker could be killed mid-copy (status %s)", desc.WorkflowExecutionInfo.Status)
		}
		partsDone = 0
		for _, pa := range desc.PendingActivities {
			if pa.ActivityType.GetName() != activities.DeliverName || pa.HeartbeatDetails == nil {
				continue
			}
			if err := converter.GetDefaultDataConverter().FromPayloads(pa.HeartbeatDetails, &progress); err != nil {
				t.Fatalf("decoding the copy's heartbeat: %v", err)
			}
			parts, err := st.AWS.S3.ListParts(context.Background(), &s3.ListPartsInput{
				Bucket: aws.String(progress.Bucket), Key: aws.String(progress.Key), UploadId: aws.String(progress.UploadID),
			})
			if err == nil {
				partsDone = len(parts.Parts)
			}
		}
		return partsDone >= 2, fmt.Sprintf("S3 lists %d parts of the delivery's upload %q", partsDone, progress.UploadID)
	})
	t.Logf("S3 lists %d of %d parts copied", partsDone, progress.PartsTotal)
	st.Kill(t, stacktest.Worker)
	t.Logf("killed the worker during the multipart copy")
	st.Up(t)

	res := waitResult(t, st, id)
	if res.Status != filestatus.Delivered || res.SHA256 != wantSHA {
		t.Fatalf("result %+v, want delivered with SHA-256 %s", res, wantSHA)
	}
	var state ingest.FileState
	q, err := st.Temporal.QueryWorkflow(context.Background(), id, "", ingest.StatusQuery)
	if err != nil || q.Get(&state) != nil {
		t.Fatalf("status query: %v", err)
	}
	if state.DeliveryPartsResumed == 0 {
		t.Fatal("the delivery after the crash started over instead of continuing the upload")
	}
	t.Logf("the new worker kept %d parts the killed one had copied", state.DeliveryPartsResumed)

	obj, err := st.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("delivered"), Key: aws.String("acme/" + name), VersionId: aws.String(res.DestVersionID)})
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, obj.Body)
	obj.Body.Close()
	if err != nil || n != size || hex.EncodeToString(got.Sum(nil)) != wantSHA {
		t.Fatalf("delivered %d bytes with SHA-256 %x, want %d bytes with %s", n, got.Sum(nil), size, wantSHA)
	}
	// Only one version was delivered, and no upload was left behind.
	vers, err := st.AWS.S3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String("delivered"), Prefix: aws.String("acme/" + name)})
	if err != nil || len(vers.Versions) != 1 {
		t.Fatalf("%d delivered versions (%v), want 1", len(vers.Versions), err)
	}
	ups, err := st.AWS.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("delivered"), Prefix: aws.String("acme/" + name)})
	if err != nil || len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left (%v)", len(ups.Uploads), err)
	}
}
