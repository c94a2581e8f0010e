//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// labco (deploy/local/ferry.yaml) sends batches: a folder below
// labco/inbound/ with a manifest (*.manifest.json or *.sha256), a 40 s
// timeout and four-eyes approval.

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// uploadBatch puts files into a new batch folder over SFTP as labco, in
// the order given, and returns the folder's name.
func uploadBatch(t *testing.T, st *stacktest.Stack, files ...[2]string) string {
	t.Helper()
	folder := stacktest.Unique("batch-")
	cmds := []string{"cd /landing/labco/inbound", "mkdir " + folder, "cd " + folder}
	for _, f := range files {
		cmds = append(cmds, "put "+localFile(t, f[0], []byte(f[1])))
	}
	if out, err := sftpBatch(t, st, "labco", cmds...); err != nil {
		t.Fatalf("sftp upload of batch %s failed: %v\n%s", folder, err, out)
	}
	return folder
}

func memberID(t *testing.T, st *stacktest.Stack, folder, name string) string {
	t.Helper()
	return findWorkflow(t, st, fmt.Sprintf(`Partner="labco" AND ObjectKey="labco/inbound/%s/%s"`, folder, name))
}

// waitQuarantined waits past the batch's timeout for a member to be
// quarantined, and ends its workflow when the test is done.
func waitQuarantined(t *testing.T, st *stacktest.Stack, id string) ingest.FileState {
	t.Helper()
	rejectWhenDone(t, st, id, "")
	var state ingest.FileState
	stacktest.Eventually(t, 2*time.Minute, func() (bool, string) {
		q, err := st.Temporal.QueryWorkflow(context.Background(), id, "", ingest.StatusQuery)
		if err == nil && q.Get(&state) == nil && state.Stage == filestatus.Quarantined {
			return true, ""
		}
		return false, fmt.Sprintf("file %s: waiting for its batch's timeout to quarantine it (stage %s, waiting for %q, error %v)", id, state.Stage, state.WaitingFor, err)
	})
	return state
}

func TestCompleteBatchWithTheManifestLastIsDelivered(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	one, two := "id,result\n1,negative\n", "id,result\n2,positive\n"
	manifest := fmt.Sprintf(`{"files": [{"name": "labs_1.csv", "size": %d, "sha256": %q}, {"name": "labs_2.csv", "size": %d, "sha256": %q}]}`,
		len(one), sum([]byte(one)), len(two), sum([]byte(two)))
	folder := uploadBatch(t, st, [2]string{"labs_1.csv", one}, [2]string{"labs_2.csv", two}, [2]string{"labs.manifest.json", manifest})

	for name, body := range map[string]string{"labs_1.csv": one, "labs_2.csv": two, "labs.manifest.json": manifest} {
		id := memberID(t, st, folder, name)
		res := waitResult(t, st, id)
		if res.Status != filestatus.Delivered {
			t.Fatalf("%s: %+v, want delivered with its batch", name, res)
		}
		obj, err := st.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("delivered"), Key: aws.String("labco/" + folder + "/" + name), VersionId: aws.String(res.DestVersionID)})
		if err != nil {
			t.Fatalf("%s not delivered: %v", name, err)
		}
		got, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		if !bytes.Equal(got, []byte(body)) {
			t.Fatalf("%s: delivered bytes differ", name)
		}
	}
	// Operators find the batch by its folder, released.
	bid := findWorkflow(t, st, fmt.Sprintf(`WorkflowType="IngestBatch" AND ObjectKey="labco/inbound/%s/"`, folder))
	var res batch.Result
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.Temporal.GetWorkflow(ctx, bid, "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != batch.Released || len(res.Members) != 3 {
		t.Fatalf("batch %s: %+v, want released with 3 files", bid, res)
	}
}

// An incomplete batch is quarantined at its timeout with the missing file
// named; its approvers then release it as a whole (four eyes), and the
// file that arrived is delivered.
func TestIncompleteBatchIsQuarantinedNamingTheMissingFile(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	one := "id,result\n1,negative\n"
	sums := fmt.Sprintf("%s  labs_1.csv\n%s  labs_2.csv\n", sum([]byte(one)), sum([]byte("never sent")))
	folder := uploadBatch(t, st, [2]string{"labs.sha256", sums}, [2]string{"labs_1.csv", one})
	id := memberID(t, st, folder, "labs_1.csv")
	state := waitQuarantined(t, st, id)
	want := fmt.Sprintf("batch labco/inbound/%s/: labs_2.csv listed in the manifest has not arrived", folder)
	if !contains(state.Reasons, want) {
		t.Fatalf("reasons %q, want %q", state.Reasons, want)
	}
	if state.Batch == nil || state.Batch.Outcome != batch.Quarantine {
		t.Fatalf("batch facts %+v", state.Batch)
	}
	bid := state.Batch.WorkflowID
	signal(t, st, bid, "approve", "alice", "labs_2.csv was withdrawn by the lab; confirmed by phone")
	signal(t, st, bid, "approve", "bob", "second approval: checked the withdrawal notice")
	res := waitResult(t, st, id)
	if res.Status != filestatus.Delivered {
		t.Fatalf("%+v, want delivered after the batch's approval", res)
	}
	if len(res.Decisions) != 2 || !res.Decisions[1].Accepted {
		t.Fatalf("decisions on the file: %+v", res.Decisions)
	}
}

func TestBatchManifestWithAWrongChecksumIsQuarantinedNamingTheMismatch(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	one, two := "id,result\n1,negative\n", "id,result\n2,positive\n"
	wrong := sum([]byte("what the lab meant to send"))
	manifest := fmt.Sprintf(`{"files": [{"name": "labs_1.csv", "sha256": %q}, {"name": "labs_2.csv", "sha256": %q}]}`, sum([]byte(one)), wrong)
	folder := uploadBatch(t, st, [2]string{"labs.manifest.json", manifest}, [2]string{"labs_1.csv", one}, [2]string{"labs_2.csv", two})
	id := memberID(t, st, folder, "labs_2.csv")
	state := waitQuarantined(t, st, id)
	want := fmt.Sprintf("batch labco/inbound/%s/: labs_2.csv: SHA-256 %s differs from the manifest's %s", folder, sum([]byte(two)), wrong)
	if !contains(state.Reasons, want) {
		t.Fatalf("reasons %q, want %q", state.Reasons, want)
	}
	// The whole batch is held: the matching file is quarantined too.
	other := waitQuarantined(t, st, memberID(t, st, folder, "labs_1.csv"))
	if !contains(other.Reasons, want) {
		t.Fatalf("labs_1.csv reasons %q, want the batch's %q", other.Reasons, want)
	}
	rejectWhenDone(t, st, memberID(t, st, folder, "labs.manifest.json"), "")
	t.Cleanup(func() {
		_ = st.Temporal.TerminateWorkflow(context.Background(), state.Batch.WorkflowID, "", "test cleanup")
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}
