//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/reconcile"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// object is one landed object version, as the event messages describe it.
type object struct {
	key, version, etag string
	size               int64
}

// s3Key encodes a key as S3 does in event notifications.
func s3Key(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// messages builds the three shapes an SQS queue carries for o, from the
// AWS-documented fixtures: plain S3 records, an EventBridge event, and each
// in an SNS envelope.
func messages(t *testing.T, o object) map[string]string {
	t.Helper()
	read := func(name string) map[string]any {
		b, err := os.ReadFile("../s3event/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	s3doc := read("aws-s3-put.json")
	rec := s3doc["Records"].([]any)[0].(map[string]any)["s3"].(map[string]any)
	rec["bucket"].(map[string]any)["name"] = "landing"
	rec["object"] = map[string]any{"key": s3Key(o.key), "size": o.size, "eTag": o.etag, "versionId": o.version, "sequencer": "0055AED6DCD90281E5"}

	eb := read("aws-eventbridge-object-created.json")
	d := eb["detail"].(map[string]any)
	d["bucket"] = map[string]any{"name": "landing"}
	d["object"] = map[string]any{"key": s3Key(o.key), "size": o.size, "etag": o.etag, "version-id": o.version, "sequencer": "617f08299329d189"}

	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	sns := func(inner any) string {
		env := read("aws-sns-s3-put.json")
		env["Message"] = enc(inner)
		return enc(env)
	}
	return map[string]string{"s3": enc(s3doc), "eventbridge": enc(eb), "sns/s3": sns(s3doc), "sns/eventbridge": sns(eb)}
}

func sendSQS(t *testing.T, st *stacktest.Stack, queue, body string) {
	t.Helper()
	ctx := context.Background()
	u, err := bridge.ResolveQueue(ctx, st.AWS.SQS, queue)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AWS.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(u), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("sending to SQS queue %s: %v", queue, err)
	}
}

// source is how the workflow says its file reached Ferry (the first
// event's input, as the Temporal UI shows it).
func source(t *testing.T, st *stacktest.Stack, id string) string {
	t.Helper()
	h, err := workflowHistory(context.Background(), st, id)
	if err != nil {
		t.Fatalf("reading the history of %s: %v", id, err)
	}
	return h.source
}

func waitStarted(t testing.TB, st *stacktest.Stack, id string, within time.Duration) {
	t.Helper()
	stacktest.Eventually(t, within, func() (bool, string) {
		_, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
		return err == nil, fmt.Sprintf("workflow %s not started: %v", id, err)
	})
}

// The production path: S3 event notifications in each shape an SQS queue
// carries are delivered end to end by the running bridge; a TestEvent is
// ignored and a poison message lands in the dead-letter queue with why.
func TestSQSMessagesOfEveryShapeAreDelivered(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	pauseReconciler(t, st)
	queue, dlq := st.Config.Bridge.SQS.Queue, st.Config.Bridge.SQS.DeadLetterQueue
	shapes := []string{"s3", "eventbridge", "sns/s3", "sns/eventbridge"}
	var objects []string
	for _, shape := range shapes {
		objects = append(objects, stacktest.Unique("acme/inbound/sqs "+strings.ReplaceAll(shape, "/", "-")+"+")+".csv", "id,qty\n1,"+shape+"\n")
	}
	puts := putSilently(t, st, objects...)
	ids := map[string]string{}
	for i, shape := range shapes {
		key, body := objects[2*i], objects[2*i+1]
		o := object{key: key, version: aws.ToString(puts[i].VersionId), etag: strings.Trim(aws.ToString(puts[i].ETag), `"`), size: int64(len(body))}
		sendSQS(t, st, queue, messages(t, o)[shape])
		ids[shape] = fileid.WorkflowID("acme", "landing", key, o.version)
	}
	sendSQS(t, st, queue, `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-24T09:00:00.000Z","Bucket":"landing","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw"}`)
	poison := stacktest.Unique(`{"Records":[{"eventName":"ObjectCreated:Put","note":"poison `) + `"}]}`
	sendSQS(t, st, queue, poison)

	for shape, id := range ids {
		waitStarted(t, st, id, 30*time.Second)
		if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
			t.Errorf("%s: result %+v, want delivered", shape, res)
		}
		// Started by the queue, not by the reconciler that also runs.
		if got := source(t, st, id); got != "sqs/"+shape {
			t.Errorf("%s: the workflow's source is %q, want sqs/%s", shape, got, shape)
		}
	}

	ctx := context.Background()
	dlqURL, err := bridge.ResolveQueue(ctx, st.AWS.SQS, dlq)
	if err != nil {
		t.Fatal(err)
	}
	stacktest.Eventually(t, 30*time.Second, func() (bool, string) {
		out, err := st.AWS.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlqURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range out.Messages {
			if aws.ToString(m.Body) != poison {
				continue
			}
			found = true
			_, _ = st.AWS.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(dlqURL), ReceiptHandle: m.ReceiptHandle})
			if r := aws.ToString(m.MessageAttributes["ferry-error"].StringValue); !strings.Contains(r, "s3.bucket.name is missing") {
				t.Errorf("the poison message was dead-lettered with reason %q", r)
			}
		}
		return found, fmt.Sprintf("the poison message is not in the dead-letter queue (%d others received)", len(out.Messages))
	})
}

// Duplicate storm: one upload announced by MinIO's webhook, three more
// times over HTTP and three times over SQS (one per shape), all at once:
// one workflow, one delivery, one notification.
func TestDuplicateStormAcrossBothSourcesDeliversOnce(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	ctx := context.Background()
	key := stacktest.Unique("acme/inbound/storm-") + ".csv"
	body := "id,qty\n1,storm\n"
	put, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	o := object{key: key, version: aws.ToString(put.VersionId), etag: strings.Trim(aws.ToString(put.ETag), `"`), size: int64(len(body))}
	msgs := messages(t, o)
	id := fileid.WorkflowID("acme", "landing", key, o.version)
	defer func() {
		if t.Failed() {
			t.Logf("workflow %s", id)
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for _, shape := range []string{"s3", "eventbridge", "sns/s3"} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, "http://"+st.Config.Bridge.Listen+bridge.EventsPath, strings.NewReader(msgs[shape]))
			req.Header.Set("Authorization", "Bearer "+st.Env["FERRY_BRIDGE_AUTH_TOKEN"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				errs <- fmt.Errorf("HTTP %s event: status %d", shape, resp.StatusCode)
			}
		}()
		go func() {
			defer wg.Done()
			sendSQS(t, st, st.Config.Bridge.SQS.Queue, msgs[shape])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitStarted(t, st, id, 30*time.Second)
	if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered", res)
	}
	// Give the slower copies of the event time to arrive and be refused.
	time.Sleep(3 * time.Second)
	if n := st.Runs(t, id); n != 1 {
		t.Errorf("%d workflow runs for one object version, want 1", n)
	}
	vers, err := st.AWS.S3.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("delivered"), Prefix: aws.String("acme/" + strings.TrimPrefix(key, "acme/inbound/"))})
	if err != nil || len(vers.Versions) != 1 {
		t.Errorf("%d delivered versions (%v), want 1", len(vers.Versions), err)
	}
	if n := countNotifications(t, st, id, "file.delivered"); n != 1 {
		t.Errorf("%d file.delivered notifications, want 1", n)
	}
}

func countNotifications(t *testing.T, st *stacktest.Stack, id, typ string) int {
	t.Helper()
	notification(t, st, id, typ) // waits for the first
	b, err := os.ReadFile(st.Env["FERRY_NOTIFICATIONS_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"`+id+`"`) && strings.Contains(line, `"`+typ+`"`) {
			n++
		}
	}
	return n
}

// Bridge down while partners upload over SFTP: MinIO keeps the events in
// its queue directory and sends them once the bridge is back; every file
// is delivered and none twice.
func TestBridgeDownWhilePartnersUploadLosesNothing(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	pauseReconciler(t, st)
	// SIGTERM, as an orchestrator stops it; it must exit within 30s.
	st.Stop(t, stacktest.Bridge)

	var names []string
	var cmds []string
	for i := range 3 {
		name := stacktest.Unique(fmt.Sprintf("while-down-%d-", i)) + ".csv"
		names = append(names, name)
		cmds = append(cmds, "put "+localFile(t, name, []byte(fmt.Sprintf("id,qty\n%d,1\n", i))))
	}
	if out, err := sftpBatch(t, st, "acme", append([]string{"cd /landing/acme/inbound"}, cmds...)...); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	time.Sleep(2 * time.Second)
	for _, name := range names {
		if st.Count(t, fmt.Sprintf("ObjectKey = %q", "acme/inbound/"+name)) != 0 {
			t.Fatalf("%s was started while the bridge was down: the test did not take the bridge down", name)
		}
	}

	st.Up(t)
	for _, name := range names {
		key := "acme/inbound/" + name
		id := findWorkflowWithin(t, st, fmt.Sprintf(`ObjectKey=%q`, key), 2*time.Minute)
		if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
			t.Errorf("%s: result %+v, want delivered", name, res)
		}
		if got := source(t, st, id); got != "http/s3" {
			t.Errorf("%s: started by %q, want MinIO's queued event (http/s3)", name, got)
		}
	}
}

// pauseReconciler pauses the reconcile schedule for the test and waits
// for a run in progress to end, so that a test about events proves that
// the event, not the safety net, started its files.
func pauseReconciler(t *testing.T, st *stacktest.Stack) {
	t.Helper()
	ctx := context.Background()
	h := st.Temporal.ScheduleClient().GetHandle(ctx, reconcile.ScheduleID)
	if err := h.Pause(ctx, client.SchedulePauseOptions{Note: "paused by test " + t.Name()}); err != nil {
		t.Fatalf("pausing the reconcile schedule: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Unpause(context.Background(), client.ScheduleUnpauseOptions{Note: "test done"}); err != nil {
			t.Errorf("unpausing the reconcile schedule: %v", err)
		}
	})
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		n := st.Count(t, fmt.Sprintf("WorkflowType = %q AND ExecutionStatus = 'Running'", reconcile.WorkflowName))
		return n == 0, fmt.Sprintf("%d reconcile runs still running", n)
	})
}
