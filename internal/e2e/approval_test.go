//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// signal sends a decision the way the README tells operators to.
func signal(t *testing.T, st *stacktest.Stack, id, name, approver, reason string) {
	t.Helper()
	input := fmt.Sprintf(`{"approver": %q, "reason": %q}`, approver, reason)
	out, err := exec.Command(st.TemporalCLI(), "workflow", "signal", "--address", st.Config.Temporal.Address,
		"--workflow-id", id, "--name", name, "--input", input).CombinedOutput()
	if err != nil {
		t.Fatalf("temporal workflow signal --name %s: %v\n%s", name, err, out)
	}
}

func quarantinedUpload(t *testing.T, st *stacktest.Stack, body []byte) (id, name string) {
	t.Helper()
	name = stacktest.Unique("installer-") + ".exe"
	if out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "put "+localFile(t, name, body)); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	id = findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey="acme/inbound/%s"`, name))
	waitStage(t, st, id, filestatus.Quarantined)
	findWorkflow(t, st, fmt.Sprintf(`FileStatus="quarantined" AND ObjectKey="acme/inbound/%s"`, name))
	return id, name
}

func TestOperatorApprovesAQuarantinedFileWithTheTemporalCLI(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	body := []byte("MZ\x90\x00 a tool the partner really needs delivered")
	id, name := quarantinedUpload(t, st, body)

	// Someone who is not an approver is refused; the file keeps waiting.
	signal(t, st, id, "approve", "eve", "looks fine to me")
	state := waitState(t, st, id, "eve's decision being judged", func(s ingest.FileState) bool { return len(s.Decisions) > 0 })
	if state.Stage != filestatus.Quarantined || len(state.Decisions) != 1 || state.Decisions[0].Accepted || !strings.Contains(state.Decisions[0].Refusal, "eve is not an approver") {
		t.Fatalf("decisions after eve's approval: %+v", state.Decisions)
	}

	signal(t, st, id, "approve", "alice", "confirmed with acme by phone: expected installer")
	res := waitResult(t, st, id)
	if res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered after alice's approval", res)
	}
	obj, err := st.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("delivered"), Key: aws.String("acme/" + name), VersionId: aws.String(res.DestVersionID)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatal("the approved file's delivered bytes differ")
	}
	if len(res.Decisions) != 2 || !res.Decisions[1].Accepted || res.Decisions[1].Approver != "alice" {
		t.Fatalf("decisions %+v", res.Decisions)
	}
	findWorkflow(t, st, fmt.Sprintf(`FileStatus="delivered" AND ObjectKey="acme/inbound/%s"`, name))
}

func TestOperatorRejectsAQuarantinedFileWithTheTemporalCLI(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	id, name := quarantinedUpload(t, st, []byte("MZ\x90\x00 sent by mistake"))
	signal(t, st, id, "reject", "bob", "acme says it was sent by mistake")
	res := waitResult(t, st, id)
	if res.Status != filestatus.Rejected {
		t.Fatalf("result %+v, want rejected", res)
	}
	q := st.Config.Quarantine.Bucket
	if _, err := st.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(q), Key: aws.String("rejected/acme/" + name)}); err != nil {
		t.Fatalf("the rejected file is not under the rejected prefix: %v", err)
	}
	if _, err := st.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(q), Key: aws.String("acme/" + name)}); err == nil {
		t.Fatal("the quarantined copy is still there after the reject moved it")
	}
	if ev := notification(t, st, id, "file.rejected"); len(ev.Reasons) == 0 || !strings.Contains(strings.Join(ev.Reasons, " "), "rejected by bob") {
		t.Fatalf("rejection notification %+v", ev)
	}
	findWorkflow(t, st, fmt.Sprintf(`FileStatus="rejected" AND ObjectKey="acme/inbound/%s"`, name))
}

func TestDecideUpdateAnswersWithTheTemporalCLI(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	id, _ := quarantinedUpload(t, st, []byte("MZ\x90\x00 decide me"))
	decide := func(approver, decision string) (string, error) {
		input := fmt.Sprintf(`{"approver": %q, "reason": "checked the file", "decision": %q}`, approver, decision)
		out, err := exec.Command(st.TemporalCLI(), "workflow", "update", "execute", "--address", st.Config.Temporal.Address,
			"--workflow-id", id, "--name", "decide", "--input", input).CombinedOutput()
		return string(out), err
	}
	out, err := decide("acme", "approve")
	if err == nil || !strings.Contains(out, "acme uploaded this file and may not decide on it") {
		t.Fatalf("the partner's own approval was not refused with the reason: %v\n%s", err, out)
	}
	out, err = decide("bob", "reject")
	if err != nil || !strings.Contains(out, "rejected") {
		t.Fatalf("bob's reject: %v\n%s", err, out)
	}
	if res := waitResult(t, st, id); res.Status != filestatus.Rejected || len(res.Decisions) != 2 {
		t.Fatalf("result %+v", res)
	}
}

func ferryAudit(t *testing.T, st *stacktest.Stack, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(filepath.Join(st.Env["FERRY_BIN"], "ferry"), append([]string{"audit"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestAuditTrailRecordsDecisionsAndExposesTampering(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	id, _ := quarantinedUpload(t, st, []byte("MZ\x90\x00 audited"))
	signal(t, st, id, "approve", "eve", "not mine to approve")
	signal(t, st, id, "reject", "bob", "acme withdrew it")
	if res := waitResult(t, st, id); res.Status != filestatus.Rejected {
		t.Fatalf("result %+v", res)
	}

	out, err := ferryAudit(t, st, "--file-id", id)
	if err != nil {
		t.Fatalf("ferry audit: %v\n%s", err, out)
	}
	for _, want := range []string{"status:received", "status:quarantined", "refused:approve", "eve is not an approver", "reject", "acme withdrew it", "status:rejected", "chain intact"} {
		if !strings.Contains(out, want) {
			t.Fatalf("the audit trail lacks %q:\n%s", want, out)
		}
	}

	workerMetrics := "http://" + st.Config.Metrics.WorkerListen + metrics.Path
	acme := map[string]string{"partner": "acme"}
	failures := func() float64 {
		t.Helper()
		m, err := metricstest.Scrape(workerMetrics)
		if err != nil {
			t.Fatalf("scraping the worker: %v", err)
		}
		v, ok := m.Value(metrics.AuditVerificationFailuresTotal, acme)
		if !ok {
			t.Fatalf("the worker exports no %s{partner=acme}", metrics.AuditVerificationFailuresTotal)
		}
		return v
	}
	before := failures()

	// Someone with write access to the table softens the refusal.
	trail, err := (&audit.Store{DB: st.AWS.DynamoDB, Table: st.Config.DynamoDB.AuditTable}).List(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var refused int64
	for _, e := range trail {
		if e.Action == "refused:approve" {
			refused = e.Seq
		}
	}
	_, err = st.AWS.DynamoDB.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
		TableName: aws.String(st.Config.DynamoDB.AuditTable),
		Key: map[string]dbtypes.AttributeValue{
			"file_id": &dbtypes.AttributeValueMemberS{Value: id},
			"seq":     &dbtypes.AttributeValueMemberN{Value: strconv.FormatInt(refused, 10)},
		},
		UpdateExpression:          aws.String("SET actor = :a"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":a": &dbtypes.AttributeValueMemberS{Value: "alice"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err = ferryAudit(t, st, "--file-id", id)
	if err == nil || !strings.Contains(out, fmt.Sprintf("BROKEN %s at entry %d", id, refused)) {
		t.Fatalf("the edited entry %d was not caught: %v\n%s", refused, err, out)
	}
	// Verifying the partner as a whole fails too, naming the file.
	out, err = ferryAudit(t, st, "--partner", "acme")
	if err == nil || !strings.Contains(out, "BROKEN "+id) {
		t.Fatalf("partner verification missed the edit: %v\n%s", err, out)
	}
	// The running worker's verifier finds it on its own within its
	// interval (audit.verify_interval: 1m on the local stack) and counts it.
	stacktest.Eventually(t, 150*time.Second, func() (bool, string) {
		got := failures()
		return got >= before+1, fmt.Sprintf("worker: %s{partner=acme} is %v, was %v before the edit", metrics.AuditVerificationFailuresTotal, got, before)
	})
}

// Real timers, short intervals: reminders while a file waits, then the
// deadline escalates to a second approver who may release it.
func TestRemindersAndEscalationWithRealTimers(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	key := stacktest.Unique("initech/inbound/tool-") + ".exe"
	put, err := st.AWS.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(key), Body: strings.NewReader("MZ\x90\x00 tool")})
	if err != nil {
		t.Fatal(err)
	}
	id := fileid.WorkflowID("initech", "landing", key, aws.ToString(put.VersionId))
	waitState(t, st, id, "quarantine", func(s ingest.FileState) bool { return s.Stage == filestatus.Quarantined })
	// Before the deadline frank is not an approver.
	signal(t, st, id, "approve", "frank", "early")
	state := waitState(t, st, id, "frank's early approval being judged", func(s ingest.FileState) bool { return len(s.Decisions) > 0 })
	if state.Decisions[0].Accepted {
		t.Fatal("frank's approval was accepted before the escalation")
	}
	notification(t, st, id, "file.reminder")
	notification(t, st, id, "file.escalated")
	signal(t, st, id, "approve", "frank", "escalated to me: released")
	if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered after frank's escalated approval", res)
	}
}

func ferryCmd(t *testing.T, st *stacktest.Stack, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(filepath.Join(st.Env["FERRY_BIN"], "ferry"), args...).CombinedOutput()
	return string(out), err
}

// quarantinedShipment uploads a globex shipment over SFTP with a wrong
// checksum sidecar, which quarantines it at once (with none, only after
// the sidecar's timeout), and returns its workflow ID once quarantined,
// and its name.
func quarantinedShipment(t *testing.T, st *stacktest.Stack, body string) (id, name string) {
	t.Helper()
	name = stacktest.Unique("shipment-") + ".xml"
	file := localFile(t, name, []byte(body))
	bad := localFile(t, name+".sha256", []byte(strings.Repeat("0", 64)+"  "+name+"\n"))
	if out, err := sftpBatch(t, st, "globex", "cd /landing/globex/inbound", "put "+bad, "put "+file); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	id = findWorkflow(t, st, fmt.Sprintf(`Partner="globex" AND ObjectKey="globex/inbound/%s"`, name))
	waitStage(t, st, id, filestatus.Quarantined)
	return id, name
}

// globex requires two distinct approvers and signed decisions.
func TestSignedFourEyesReleaseWithStarterApprove(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	id, _ := quarantinedShipment(t, st, "<shipment id=\"10\"/>\n")
	keys := filepath.Join(st.Root, "deploy/local/keys")

	// Unsigned, through the CLI: refused, saying how to sign.
	out, err := ferryCmd(t, st, "approve", "--workflow-id", id, "--approver", "carol", "--reason", "checked")
	if err == nil || !strings.Contains(out, "requires signed decisions") {
		t.Fatalf("an unsigned approval was not refused: %v\n%s", err, out)
	}
	// carol signs with dave's key: refused.
	out, err = ferryCmd(t, st, "approve", "--workflow-id", id, "--approver", "carol", "--reason", "checked", "--key", filepath.Join(keys, "dave"))
	if err == nil || !strings.Contains(out, "does not verify") {
		t.Fatalf("a signature by the wrong key was not refused: %v\n%s", err, out)
	}
	out, err = ferryCmd(t, st, "approve", "--workflow-id", id, "--approver", "carol", "--reason", "sidecar typo confirmed by globex", "--key", filepath.Join(keys, "carol"))
	if err != nil || !strings.Contains(out, "waiting for 1 more approvals") {
		t.Fatalf("carol's signed approval: %v\n%s", err, out)
	}
	out, err = ferryCmd(t, st, "approve", "--workflow-id", id, "--approver", "dave", "--reason", "agreed", "--key", filepath.Join(keys, "dave"))
	if err != nil || !strings.Contains(out, "released") {
		t.Fatalf("dave's signed approval: %v\n%s", err, out)
	}
	res := waitResult(t, st, id)
	if res.Status != filestatus.Delivered {
		t.Fatalf("result %+v", res)
	}
	var signed int
	for _, d := range res.Decisions {
		if d.Accepted && d.Signed && d.Meaning == "approved for release" && !d.SignedAt.IsZero() {
			signed++
		}
	}
	if signed != 2 {
		t.Fatalf("decisions %+v, want two accepted signed approvals with their manifestation", res.Decisions)
	}
	out, err = ferryAudit(t, st, "--file-id", id)
	if err != nil || !strings.Contains(out, "[signed by carol at") || !strings.Contains(out, "chain intact") {
		t.Fatalf("audit trail: %v\n%s", err, out)
	}
}

func TestStarterListsAndShowsFiles(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	id, name := quarantinedUpload(t, st, []byte("MZ\x90\x00 listed"))
	rejectWhenDone(t, st, id, "alice")
	out, err := ferryCmd(t, st, "list", "--status", "quarantined", "--partner", "acme")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "extension .exe is not allowed") {
		t.Fatalf("ferry list: %v\n%s", err, out)
	}
	out, err = ferryCmd(t, st, "show", "--workflow-id", id)
	if err != nil || !strings.Contains(out, "quarantined") || !strings.Contains(out, "acme/inbound/"+name) || !strings.Contains(out, "chain intact") {
		t.Fatalf("ferry show: %v\n%s", err, out)
	}
	out, err = ferryCmd(t, st, "show", "--workflow-id", "ingest-acme-nosuchfile")
	if err == nil || !strings.Contains(out, "no file ingest-acme-nosuchfile") {
		t.Fatalf("an unknown ID: %v\n%s", err, out)
	}
	out, err = ferryCmd(t, st, "approve", "--workflow-id", "ingest-acme-nosuchfile", "--approver", "alice", "--reason", "x")
	if err == nil || !strings.Contains(out, "no file workflow ingest-acme-nosuchfile") {
		t.Fatalf("approving an unknown ID: %v\n%s", err, out)
	}
	out, err = ferryCmd(t, st, "list", "--status", "done")
	if err == nil || !strings.Contains(out, `unknown file status "done"`) {
		t.Fatalf("a wrong status: %v\n%s", err, out)
	}
}
