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

	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// eicar is the EICAR anti-malware test string: every scanner detects it,
// and it harms nothing.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

func record(t *testing.T, st *stacktest.Stack, id string) *filestore.File {
	t.Helper()
	rec, err := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable).Get(context.Background(), id)
	if err != nil {
		t.Fatalf("record of %s: %v", id, err)
	}
	return rec
}

func TestEICARInsideACSVIsQuarantinedAndACleanFileDelivered(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	clean := csvBody(5_000)
	infected := append(append(csvBody(2_000), "2001,"+eicar+"\n"...), csvBody(2_000)...)
	cleanName, infectedName := stacktest.Unique("clean-")+".csv", stacktest.Unique("infected-")+".csv"
	if out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound",
		"put "+localFile(t, cleanName, clean), "put "+localFile(t, infectedName, infected)); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}

	cleanID := findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey="acme/inbound/%s"`, cleanName))
	if res := waitResult(t, st, cleanID); res.Status != filestatus.Delivered {
		t.Fatalf("clean file: %+v, want delivered", res)
	}
	rec := record(t, st, cleanID)
	if rec.ScanVerdict != ingest.ScanClean || !strings.HasPrefix(rec.ScanEngine, "ClamAV 1.4") || rec.ScanDatabase == "" || !strings.HasPrefix(rec.Scanner, "clamd ") {
		t.Fatalf("clean file's record shows no scan by clamd with its engine and database: %+v", rec)
	}

	id := findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey="acme/inbound/%s"`, infectedName))
	rejectWhenDone(t, st, id, "")
	state := waitStage(t, st, id, filestatus.Quarantined)
	if state.Scan.Verdict != ingest.ScanFound || state.Scan.Signature == "" {
		t.Fatalf("status query's scan %+v, want a finding", state.Scan)
	}
	reasons := strings.Join(state.Reasons, "; ")
	if !strings.Contains(reasons, "malware found: "+state.Scan.Signature) {
		t.Fatalf("reasons %q do not name the signature %s", reasons, state.Scan.Signature)
	}
	if ev := notification(t, st, id, "file.quarantined"); !strings.Contains(strings.Join(ev.Reasons, "; "), state.Scan.Signature) {
		t.Fatalf("the quarantine notification does not say what was found: %+v", ev)
	}
	rec = record(t, st, id)
	if rec.ScanVerdict != ingest.ScanFound || rec.ScanFinding != state.Scan.Signature || rec.ScanEngine == "" {
		t.Fatalf("record %+v, want the finding %s with the engine", rec, state.Scan.Signature)
	}
}

func TestWhileClamdIsDownAFileWaitsAndIsDeliveredWhenItReturns(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	st.Stop(t, stacktest.ClamdProcess)
	key := stacktest.Unique("acme/inbound/waits-") + ".csv"
	put, err := st.AWS.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(key), Body: bytes.NewReader(csvBody(100))})
	if err != nil {
		t.Fatal(err)
	}
	id := fileid.WorkflowID("acme", "landing", key, aws.ToString(put.VersionId))
	waitStarted(t, st, id, 30*time.Second)

	// The inspection is retried, its failure says why, and the file is
	// not taken for clean meanwhile.
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		desc, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			return false, err.Error()
		}
		for _, a := range desc.PendingActivities {
			if a.ActivityType.GetName() == "Inspect" && a.Attempt >= 2 && strings.Contains(a.GetLastFailure().GetMessage(), "malware scanner") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("pending activities %v", desc.PendingActivities)
	})
	if s := waitStage(t, st, id, filestatus.Inspecting); s.Scan.Verdict != "" {
		t.Fatalf("while clamd is down the file has a scan verdict: %+v", s.Scan)
	}

	st.Start(t, stacktest.ClamdProcess) // clamd returns
	stacktest.Eventually(t, 3*time.Minute, func() (bool, string) {
		rec := record(t, st, id)
		return rec.Status == filestatus.Delivered, "file is " + string(rec.Status)
	})
	if rec := record(t, st, id); rec.ScanVerdict != ingest.ScanClean {
		t.Fatalf("delivered without a clean scan: %+v", rec)
	}
}

func TestFilesTooLargeToScanFollowThePartnersPolicy(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	size := st.Config.Scanner.MaxStreamBytes + 1<<20

	// acme's policy delivers such files, recorded as not scanned.
	acmeKey := stacktest.Unique("acme/inbound/large-") + ".csv"
	putText(t, st, "landing", acmeKey, size)
	acmeID := findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey=%q`, acmeKey))
	stacktest.Eventually(t, 3*time.Minute, func() (bool, string) {
		rec := record(t, st, acmeID)
		return rec.Status == filestatus.Delivered, "acme's file is " + string(rec.Status)
	})
	if rec := record(t, st, acmeID); rec.ScanVerdict != ingest.ScanNotScanned || !strings.Contains(rec.ScanFinding, "too large to scan") {
		t.Fatalf("acme's large file: record %+v, want delivered as not scanned, too large", rec)
	}

	// globex's (the default) quarantines them.
	name := stacktest.Unique("large-") + ".csv"
	globexKey := "globex/inbound/" + name
	putText(t, st, "landing", globexKey, size)
	sum := sha256OfObject(t, st, "landing", globexKey)
	if _, err := st.AWS.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(globexKey + ".sha256"),
		Body: strings.NewReader(sum + "  " + name + "\n")}); err != nil {
		t.Fatal(err)
	}
	id := findWorkflow(t, st, fmt.Sprintf(`Partner="globex" AND ObjectKey=%q`, globexKey))
	rejectWhenDone(t, st, id, "")
	state := waitStage(t, st, id, filestatus.Quarantined)
	if !strings.Contains(strings.Join(state.Reasons, "; "), "too large to scan") || state.Scan.Verdict != ingest.ScanNotScanned {
		t.Fatalf("globex's large file: %+v, want quarantined as too large to scan", state)
	}
}

func sha256OfObject(t *testing.T, st *stacktest.Stack, bucket, key string) string {
	t.Helper()
	obj, err := st.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj.Body); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
