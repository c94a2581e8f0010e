//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// An executable renamed .csv is quarantined; the file.quarantined
// notification reaches the SNS topic of deploy/local/ferry.yaml and, through
// its real subscription, the goaws queue, with the attributes subscribers
// filter on; the webhook got it signed.
func TestQuarantineIsPublishedToSNSWithAttributes(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	name := stacktest.Unique("report-") + ".csv"
	if out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "put "+localFile(t, name, []byte("MZ\x90\x00 not a csv at all"))); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	id := findWorkflow(t, st, fmt.Sprintf(`FileStatus="quarantined" AND ObjectKey="acme/inbound/%s"`, name))
	rejectWhenDone(t, st, id, name)
	notification(t, st, id, "file.quarantined") // fails unless the signature verified

	q := st.GoAWSSQS()
	ctx := context.Background()
	queue, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("ferry-notifications")})
	if err != nil {
		t.Fatalf("the topic's subscribed queue (made by deploy/local/provision): %v", err)
	}
	type attr struct{ DataType, StringValue string }
	var env struct {
		Type              string
		Message           string
		MessageAttributes map[string]attr
	}
	var ev notify.Event
	stacktest.Eventually(t, 30*time.Second, func() (bool, string) {
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: queue.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return false, err.Error()
		}
		for _, m := range out.Messages {
			if json.Unmarshal([]byte(aws.ToString(m.Body)), &env) == nil && json.Unmarshal([]byte(env.Message), &ev) == nil && ev.FileID == id {
				_, _ = q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: queue.QueueUrl, ReceiptHandle: m.ReceiptHandle})
				return true, ""
			}
		}
		subs, err := st.AWS.SNS.ListSubscriptions(ctx, &sns.ListSubscriptionsInput{})
		var to []string
		if err == nil {
			for _, s := range subs.Subscriptions {
				to = append(to, aws.ToString(s.TopicArn)+" -> "+aws.ToString(s.Endpoint))
			}
		}
		return false, fmt.Sprintf("no SNS message for %s on queue ferry-notifications (%d others received; subscriptions %v %v)", id, len(out.Messages), to, err)
	})
	if env.Type != "Notification" || ev.Type != "file.quarantined" || ev.Key != "acme/inbound/"+name {
		t.Fatalf("envelope type %q, event %+v", env.Type, ev)
	}
	for k, v := range map[string]string{"type": "file.quarantined", "partner": "acme", "status": "quarantined", "idempotency_key": id + "/file.quarantined"} {
		if a := env.MessageAttributes[k]; a.DataType != "String" || a.StringValue != v {
			t.Errorf("attribute %s = %+v, want String %q (all: %+v)", k, a, v, env.MessageAttributes)
		}
	}
}

// A topic that refuses (here: deleted under the worker) costs the
// notification, counted and in the file's reasons, never the file: it
// stays quarantined and is delivered when approved.
func TestRefusingTopicIsANotificationFailureNotALostDelivery(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	workerURL := "http://" + st.Config.Metrics.WorkerListen + metrics.Path
	labels := map[string]string{"partner": "acme", "type": "file.quarantined"}
	failures := func() float64 {
		m, err := metricstest.Scrape(workerURL)
		if err != nil {
			t.Fatalf("scraping the worker: %v", err)
		}
		v, _ := m.Value(metrics.NotificationFailuresTotal, labels)
		return v
	}
	before := failures()

	restore := withoutTopic(t, st)
	id, _ := quarantinedUpload(t, st, []byte("MZ\x90\x00 the topic is gone"))
	state := waitState(t, st, id, "the refused notification in the reasons", func(s ingest.FileState) bool {
		return strings.Contains(strings.Join(s.Reasons, " "), "notification file.quarantined failed")
	})
	if !strings.Contains(strings.Join(state.Reasons, " "), "ferry-notifications") {
		t.Errorf("the reasons do not name the refusing topic: %q", state.Reasons)
	}
	restore()
	notification(t, st, id, "file.quarantined") // the webhook still got it
	if got := failures(); got != before+1 {
		t.Errorf("%s%v = %v, want %v", metrics.NotificationFailuresTotal, labels, got, before+1)
	}

	signal(t, st, id, "approve", "alice", "expected")
	if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered: a refused notification must not cost the file", res)
	}
}

// withoutTopic deletes the local stack's notification topic and returns a
// function (also run at cleanup) that provisions it again, subscription
// included, as make run does.
func withoutTopic(t *testing.T, st *stacktest.Stack) (restore func()) {
	t.Helper()
	ctx := context.Background()
	topic := st.Config.Notify.SNS[0].Topic
	c := st.AWS.SNS // the stack's goaws, from AWS_ENDPOINT_URL_SNS
	list, err := c.ListTopics(ctx, &sns.ListTopicsInput{})
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	for _, tp := range list.Topics {
		if arn := aws.ToString(tp.TopicArn); strings.HasSuffix(arn, ":"+topic) {
			if _, err := c.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: tp.TopicArn}); err != nil {
				t.Fatalf("deleting topic %s: %v", arn, err)
			}
			deleted = true
		}
	}
	if !deleted {
		t.Fatalf("no topic %s to delete (deploy/local/provision creates it)", topic)
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		out, err := exec.Command(filepath.Join(st.Env["FERRY_BIN"], "provision"),
			"--config", st.Env["FERRY_CONFIG"], "--secrets-dir", st.Env["FERRY_SECRETS_DIR"], "--sftp-keys-dir", st.Env["FERRY_SFTP_KEYS_DIR"]).CombinedOutput()
		if err != nil {
			t.Errorf("provisioning the topic again: %v\n%s", err, out)
		}
	}
	t.Cleanup(restore)
	return restore
}
