//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// sftpBatch runs sftp commands as a partner with OpenSSH's client,
// logging in with the partner's certified key as the README shows.
func sftpBatch(t *testing.T, st *stacktest.Stack, partner string, cmds ...string) (string, error) {
	t.Helper()
	return sftpLogin(t, st, partner, []string{"-i", st.PartnerKey(t, partner), "-oIdentitiesOnly=yes", "-oBatchMode=yes"}, nil, cmds...)
}

// sftpLogin runs sftp commands as user with the given authentication
// options (and environment) for OpenSSH's client.
func sftpLogin(t *testing.T, st *stacktest.Stack, user string, auth, env []string, cmds ...string) (string, error) {
	t.Helper()
	host, port, _ := strings.Cut(st.Env["FERRY_SFTP_ADDRESS"], ":")
	args := append(auth, "-oStrictHostKeyChecking=no", "-oUserKnownHostsFile=/dev/null", "-oLogLevel=ERROR",
		"-P", port, "-b", "-", user+"@"+host)
	cmd := exec.Command("sftp", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// localFile writes a file to upload and returns its path.
func localFile(t *testing.T, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// findWorkflow lists workflows with the real temporal CLI, as an operator
// filtering the UI would, until the upload's workflow appears.
func findWorkflow(t *testing.T, st *stacktest.Stack, query string) string {
	t.Helper()
	return findWorkflowWithin(t, st, query, 30*time.Second)
}

func findWorkflowWithin(t *testing.T, st *stacktest.Stack, query string, within time.Duration) string {
	t.Helper()
	var id string
	stacktest.Eventually(t, within, func() (bool, string) {
		out, err := exec.Command(st.TemporalCLI(), "workflow", "list", "--address", st.Config.Temporal.Address,
			"--query", query, "--output", "json").Output()
		if err != nil {
			t.Fatalf("temporal workflow list --query %q: %v", query, err)
		}
		var list []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		}
		if err := json.Unmarshal(out, &list); err == nil && len(list) == 1 {
			id = list[0].Execution.WorkflowID
			return true, ""
		} else if len(list) > 1 {
			t.Fatalf("query %q matched %d workflows, want 1: %s", query, len(list), out)
		}
		return false, fmt.Sprintf("no workflow matched %q (is the bridge receiving MinIO's events? see .ferry/logs)", query)
	})
	return id
}

func waitResult(t testing.TB, st *stacktest.Stack, id string) ingest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res ingest.Result
	if err := st.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatalf("workflow %s: %v", id, err)
	}
	return res
}

// waitState polls the status query until cond holds for the file.
func waitState(t *testing.T, st *stacktest.Stack, id, what string, cond func(ingest.FileState) bool) ingest.FileState {
	t.Helper()
	var state ingest.FileState
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		q, err := st.Temporal.QueryWorkflow(context.Background(), id, "", ingest.StatusQuery)
		if err == nil && q.Get(&state) == nil && cond(state) {
			return true, ""
		}
		return false, fmt.Sprintf("file %s: waiting for %s (stage %s, reasons %v, decisions %+v, query error %v)", id, what, state.Stage, state.Reasons, state.Decisions, err)
	})
	return state
}

// waitStage polls the status query until the file reaches stage.
func waitStage(t *testing.T, st *stacktest.Stack, id string, stage filestatus.Status) ingest.FileState {
	t.Helper()
	return waitState(t, st, id, "reaching "+string(stage), func(s ingest.FileState) bool { return s.Stage == stage })
}

// rejectWhenDone ends a quarantined test file's workflow, which would
// otherwise wait for a decision forever (terminated: some partners accept
// only signed decisions).
func rejectWhenDone(t *testing.T, st *stacktest.Stack, id, _ string) {
	t.Cleanup(func() {
		_ = st.Temporal.TerminateWorkflow(context.Background(), id, "", "test cleanup")
	})
}

// notification waits for the webhook sink to have received typ for id,
// with a signature that verified under the webhook's secret.
func notification(t *testing.T, st *stacktest.Stack, id, typ string) notify.Event {
	t.Helper()
	var found notify.Event
	stacktest.Eventually(t, 15*time.Second, func() (bool, string) {
		ok, err := anyLine(st.Env["FERRY_NOTIFICATIONS_FILE"], func(line []byte) bool {
			var rec struct {
				Notification      notify.Event
				SignatureVerified bool
			}
			if json.Unmarshal(line, &rec) != nil || rec.Notification.FileID != id || rec.Notification.Type != typ {
				return false
			}
			if !rec.SignatureVerified {
				t.Fatalf("the webhook sink received %s for %s with a signature that did not verify: %s", typ, id, line)
			}
			found = rec.Notification
			return true
		})
		return ok, fmt.Sprintf("the webhook has not received %s for %s (%v)", typ, id, err)
	})
	return found
}

// anyLine reports whether match holds for a line of the file at path
// (the webhook sink's JSON lines), reading up to the first that does.
func anyLine(path string, match func(line []byte) bool) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if match(sc.Bytes()) {
			return true, nil
		}
	}
	return false, sc.Err()
}

func TestSFTPUploadIsDeliveredVerifiedRecordedAndAnnounced(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	name := stacktest.Unique("orders-") + ".csv"
	body := make([]byte, 0, 300_000)
	for i := 0; len(body) < 290_000; i++ {
		body = fmt.Appendf(body, "%d,%s\n", i, rand.Text())
	}
	sum := sha256.Sum256(body)
	wantSHA := hex.EncodeToString(sum[:])

	out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "put "+localFile(t, name, body))
	if err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}

	key := "acme/inbound/" + name
	id := findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey=%q`, key))
	res := waitResult(t, st, id)
	if res.Status != filestatus.Delivered || res.SHA256 != wantSHA {
		t.Fatalf("workflow result %+v, want delivered with SHA-256 %s", res, wantSHA)
	}

	// The delivered object holds the same bytes, under the partner's prefix.
	obj, err := st.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String("delivered"), Key: aws.String("acme/" + name), VersionId: aws.String(res.DestVersionID),
	})
	if err != nil {
		t.Fatalf("reading the delivered object: %v", err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("delivered %d bytes differ from the %d uploaded", len(got), len(body))
	}
	if gotSum := sha256.Sum256(got); hex.EncodeToString(gotSum[:]) != wantSHA {
		t.Fatal("delivered SHA-256 differs")
	}

	// The DynamoDB record says delivered, with the checksum and version.
	rec, err := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != filestatus.Delivered || rec.SHA256 != wantSHA || rec.DestVersionID != res.DestVersionID || rec.Partner != "acme" || rec.Key != key {
		t.Fatalf("DynamoDB record %+v", rec)
	}

	// The partner's governance was applied: SSE-KMS and an Object Lock
	// retention, read back from S3 and recorded.
	if obj.ServerSideEncryption != "aws:kms" {
		t.Errorf("delivered object encryption %q, want aws:kms", obj.ServerSideEncryption)
	}
	ret, err := st.AWS.S3.GetObjectRetention(context.Background(), &s3.GetObjectRetentionInput{
		Bucket: aws.String("delivered"), Key: aws.String("acme/" + name), VersionId: aws.String(res.DestVersionID),
	})
	if err != nil || ret.Retention.Mode != "GOVERNANCE" || aws.ToTime(ret.Retention.RetainUntilDate).Before(time.Now().Add(6*24*time.Hour)) {
		t.Errorf("retention %+v, %v; want GOVERNANCE for 7 days", ret, err)
	}
	if rec.Encryption != "aws:kms" || rec.RetentionMode != "GOVERNANCE" || rec.RetainUntil == "" {
		t.Errorf("record does not show the governance applied: %+v", rec)
	}

	// The webhook was told.
	ev := notification(t, st, id, "file.delivered")
	if ev.SHA256 != wantSHA || ev.DestKey != "acme/"+name || ev.DestVer != res.DestVersionID {
		t.Fatalf("notification %+v", ev)
	}

	// The status query answers from the CLI, as an operator would ask it.
	q, err := exec.Command(st.TemporalCLI(), "workflow", "query", "--address", st.Config.Temporal.Address,
		"--workflow-id", id, "--name", ingest.StatusQuery, "--output", "json").Output()
	if err != nil {
		t.Fatalf("temporal workflow query: %v", err)
	}
	if !bytes.Contains(q, []byte(`"Stage": "delivered"`)) || !bytes.Contains(q, []byte(wantSHA)) {
		t.Fatalf("status query answered %s", q)
	}
	// And the UI filter for delivered files finds it.
	findWorkflow(t, st, fmt.Sprintf(`FileStatus="delivered" AND ObjectKey=%q`, key))
}

func TestSFTPUploadBreakingARuleIsQuarantinedWithTheReason(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	tests := []struct {
		name, ext string
		body      []byte
		want      string
	}{
		{"disallowed extension", ".exe", []byte("MZ\x90\x00\x03binary"), "extension .exe is not allowed"},
		{"executable disguised as csv", ".csv", []byte("MZ\x90\x00\x03binary"), "Windows executable (MZ), not a .csv file"},
		{"csv not in UTF-8", ".csv", []byte("id,name\n1,Zo\xeb\n"), "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := stacktest.Unique("payload-") + tt.ext
			out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "put "+localFile(t, name, tt.body))
			if err != nil {
				t.Fatalf("sftp upload failed: %v\n%s", err, out)
			}
			key := "acme/inbound/" + name
			id := findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey=%q`, key))
			rejectWhenDone(t, st, id, "alice")
			res := waitStage(t, st, id, filestatus.Quarantined)
			if !strings.Contains(strings.Join(res.Reasons, "; "), tt.want) {
				t.Fatalf("state %+v, want quarantined with %q", res, tt.want)
			}
			// Operators find it under the quarantined filter.
			findWorkflow(t, st, fmt.Sprintf(`FileStatus="quarantined" AND ObjectKey=%q`, key))
			// The bytes wait in the quarantine bucket, under the partner's prefix.
			q, err := st.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{
				Bucket: aws.String(st.Config.Quarantine.Bucket), Key: aws.String("acme/" + name), VersionId: aws.String(res.QuarantineVersionID),
			})
			if err != nil {
				t.Fatalf("quarantined copy: %v", err)
			}
			got, _ := io.ReadAll(q.Body)
			q.Body.Close()
			if !bytes.Equal(got, tt.body) {
				t.Fatal("quarantined bytes differ from the upload")
			}
			rec, err := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable).Get(context.Background(), id)
			if err != nil || rec.Status != filestatus.Quarantined || rec.QuarantineVersionID != res.QuarantineVersionID || len(rec.Reasons) == 0 {
				t.Fatalf("record %+v, %v", rec, err)
			}
			if ev := notification(t, st, id, "file.quarantined"); len(ev.Reasons) == 0 {
				t.Fatalf("quarantine notification carries no reason: %+v", ev)
			}
			// Nothing was delivered.
			if _, err := st.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("delivered"), Key: aws.String("acme/" + name)}); err == nil {
				t.Fatal("a refused file was delivered")
			}
		})
	}
}

func TestGlobexDeliveryIsSSES3AndTagsTheSource(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	name := stacktest.Unique("shipment-") + ".xml"
	body := []byte("<?xml version=\"1.0\"?><shipment id=\"7\"/>\n")
	file := localFile(t, name, body)
	// globex vouches for each file with a sha256sum sidecar, made by the
	// real sha256sum as a partner would.
	sidecar := sha256sumFile(t, file)
	if out, err := sftpBatch(t, st, "globex", "cd /landing/globex/inbound", "put "+file, "put "+sidecar); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	key := "globex/inbound/" + name
	id := findWorkflow(t, st, fmt.Sprintf(`Partner="globex" AND ObjectKey=%q`, key))
	res := waitResult(t, st, id)
	if res.Status != filestatus.Delivered {
		t.Fatalf("result %+v", res)
	}
	head, err := st.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("delivered"), Key: aws.String("globex/" + name), VersionId: aws.String(res.DestVersionID)})
	if err != nil || head.ServerSideEncryption != "AES256" {
		t.Fatalf("delivered object: %+v, %v; want SSE-S3 (AES256)", head, err)
	}
	// The landing version is tagged as delivered, pointing at the delivery.
	rec, err := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := st.AWS.S3.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: aws.String("landing"), Key: aws.String(key), VersionId: aws.String(rec.VersionID)})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	for _, tag := range tags.TagSet {
		found[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	if found["ferry-status"] != "delivered" || found["ferry-file-id"] != id {
		t.Fatalf("landing tags %v", found)
	}
}

// sha256sumFile writes <file>.sha256 next to file with coreutils' sha256sum.
func sha256sumFile(t *testing.T, file string) string {
	t.Helper()
	cmd := exec.Command("sha256sum", filepath.Base(file))
	cmd.Dir = filepath.Dir(file)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sha256sum: %v", err)
	}
	p := file + ".sha256"
	if err := os.WriteFile(p, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSidecarThatDisagreesQuarantinesTheFile(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	name := stacktest.Unique("shipment-") + ".xml"
	file := localFile(t, name, []byte("<shipment id=\"8\"/>\n"))
	// A sidecar made for other content: the file changed after it was summed.
	other := localFile(t, name+".orig", []byte("<shipment id=\"9\"/>\n"))
	sum := sha256sumFile(t, other)
	wrong, _ := os.ReadFile(sum)
	sidecar := file + ".sha256"
	if err := os.WriteFile(sidecar, bytes.Replace(wrong, []byte(name+".orig"), []byte(name), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := sftpBatch(t, st, "globex", "cd /landing/globex/inbound", "put "+sidecar, "put "+file); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	id := findWorkflow(t, st, fmt.Sprintf(`Partner="globex" AND ObjectKey="globex/inbound/%s"`, name))
	rejectWhenDone(t, st, id, "carol")
	res := waitStage(t, st, id, filestatus.Quarantined)
	if len(res.Reasons) == 0 || !strings.Contains(res.Reasons[0], "says SHA-256 "+strings.Fields(string(wrong))[0]) {
		t.Fatalf("result %+v, want quarantined naming the sidecar's SHA-256", res)
	}
	// The sidecar itself was not ingested as a file.
	if _, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, ""); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(st.TemporalCLI(), "workflow", "list", "--address", st.Config.Temporal.Address,
		"--query", fmt.Sprintf(`ObjectKey="globex/inbound/%s.sha256"`, name), "--output", "json").Output()
	if err != nil || strings.Contains(string(out), "workflowId") {
		t.Fatalf("the sidecar was ingested as a file: %s %v", out, err)
	}
}

func TestPartnerCannotWriteIntoAnotherPartnersPrefix(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	name := stacktest.Unique("intrusion-") + ".csv"
	// MinIO's SFTP server writes in the background and does not report the
	// refused PutObject to the client, so sftp's exit status says nothing
	// here (AWS Transfer Family does report it). What matters is checked
	// directly: nothing lands in globex's prefix, and acme cannot list it.
	out, _ := sftpBatch(t, st, "acme", "put "+localFile(t, name, []byte("a,b\n"))+" /landing/globex/inbound/"+name)
	time.Sleep(500 * time.Millisecond)
	if _, err := st.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("landing"), Key: aws.String("globex/inbound/" + name)}); err == nil {
		t.Fatalf("acme wrote into globex's prefix:\n%s", out)
	}
	if out, err := sftpBatch(t, st, "acme", "ls /landing/globex/inbound"); err == nil {
		t.Fatalf("acme listed globex's files:\n%s", out)
	}
	// Its own prefix it can list (the policy is not simply closed).
	if out, err := sftpBatch(t, st, "acme", "ls /landing/acme/inbound"); err != nil {
		t.Fatalf("acme cannot list its own folder: %v\n%s", err, out)
	}
}

// Uploads through the S3 API, as partners with S3 clients (or Transfer
// Family) make them: MinIO's SFTP server cannot carry these.
func TestS3UploadsThatBreakRulesAreQuarantined(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	tests := []struct {
		name, key string
		body      []byte
		want      string
	}{
		{"zero bytes", stacktest.Unique("acme/inbound/empty-") + ".csv", nil, "file is empty (0 bytes)"},
		{"control character in the name", stacktest.Unique("acme/inbound/bell\a-") + ".csv", []byte("a,b\n"), "control character U+0007"},
		{"decomposed unicode name", stacktest.Unique("acme/inbound/Re\u0301sume\u0301-") + ".csv", []byte("a,b\n"), "not in Unicode normal form C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			put, err := st.AWS.S3.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String("landing"), Key: aws.String(tt.key), Body: bytes.NewReader(tt.body),
			})
			if err != nil {
				t.Fatalf("S3 refused the upload itself: %v", err)
			}
			// The documented workflow ID, from bucket, key and version: no
			// query string has to spell a control character.
			id := fileid.WorkflowID("acme", "landing", tt.key, aws.ToString(put.VersionId))
			waitStarted(t, st, id, 30*time.Second)
			rejectWhenDone(t, st, id, "alice")
			res := waitStage(t, st, id, filestatus.Quarantined)
			if !strings.Contains(strings.Join(res.Reasons, "; "), tt.want) {
				t.Fatalf("state %+v, want quarantined with %q", res, tt.want)
			}
		})
	}
}
