//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

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
		return false, "no SNS message for " + id + " on queue ferry-notifications"
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
