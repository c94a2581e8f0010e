//go:build integration

package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// The SNS envelope an SQS subscription receives.
type envelope struct {
	Type              string
	TopicArn          string
	Message           string
	MessageAttributes map[string]struct{ DataType, StringValue string }
}

func TestPublishReachesASubscribedQueueWithAttributes(t *testing.T) {
	st := stacktest.Require(t, stacktest.SNS)
	arn, queue := st.SNSTopic(t)
	n := notify.New(config.Notify{SNS: []config.SNSTopic{{Name: "alerts", Topic: arn}}}, st.AWS.SNS)
	ev := notify.Event{Type: "file.quarantined", FileID: "ingest-acme-1", Partner: "acme", Status: "quarantined", Key: "acme/inbound/x.csv"}
	if err := n.Send(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	env := receiveOne(t, st.GoAWSSQS(), queue)
	var got notify.Event
	if err := json.Unmarshal([]byte(env.Message), &got); err != nil || got.FileID != ev.FileID || got.Key != ev.Key {
		t.Fatalf("message %q (%v), want the event's JSON", env.Message, err)
	}
	want := map[string]string{"type": "file.quarantined", "partner": "acme", "status": "quarantined", "idempotency_key": "ingest-acme-1/file.quarantined"}
	for k, v := range want {
		if a := env.MessageAttributes[k]; a.StringValue != v || a.DataType != "String" {
			t.Errorf("attribute %s = %+v, want String %q (all: %+v)", k, a, v, env.MessageAttributes)
		}
	}
}

func TestTopicByNameIsFound(t *testing.T) {
	st := stacktest.Require(t, stacktest.SNS)
	arn, queue := st.SNSTopic(t)
	n := notify.New(config.Notify{SNS: []config.SNSTopic{{Name: "by-name", Topic: arn[len(arn)-len("ferry-test-")-12:]}}}, st.AWS.SNS)
	if err := n.Send(context.Background(), notify.Event{Type: "file.delivered", FileID: "ingest-acme-2", Partner: "acme", Status: "delivered"}); err != nil {
		t.Fatal(err)
	}
	receiveOne(t, st.GoAWSSQS(), queue)
}

func TestMissingTopicIsARefusal(t *testing.T) {
	st := stacktest.Require(t, stacktest.SNS)
	for _, topic := range []string{"arn:aws:sns:us-east-1:100010001000:" + stacktest.Unique("missing-"), stacktest.Unique("missing-")} {
		n := notify.New(config.Notify{SNS: []config.SNSTopic{{Name: "gone", Topic: topic}}}, st.AWS.SNS)
		err := n.Send(context.Background(), notify.Event{Type: "file.failed", FileID: "f", Partner: "acme", Status: "failed"})
		var se *notify.SendError
		if !errors.As(err, &se) || !se.Permanent() {
			t.Errorf("topic %s: got %v, want a permanent refusal", topic, err)
		}
	}
}

func TestUnreachableEndpointIsRetryable(t *testing.T) {
	st := stacktest.Require(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	client := sns.NewFromConfig(st.AWS.Config, func(o *sns.Options) {
		o.BaseEndpoint = aws.String("http://" + addr)
		o.RetryMaxAttempts = 1
	})
	n := notify.New(config.Notify{SNS: []config.SNSTopic{{Name: "down", Topic: "arn:aws:sns:us-east-1:100010001000:ferry"}}}, client)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = n.Send(ctx, notify.Event{Type: "file.failed", FileID: "f", Partner: "acme", Status: "failed"})
	var se *notify.SendError
	if !errors.As(err, &se) || se.Permanent() {
		t.Fatalf("got %v, want a retryable failure", err)
	}
}

func receiveOne(t *testing.T, q *sqs.Client, queue string) envelope {
	t.Helper()
	var env envelope
	stacktest.Eventually(t, 10*time.Second, func() (bool, string) {
		out, err := q.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			return false, err.Error()
		}
		if len(out.Messages) == 0 {
			return false, "no message on the subscribed queue"
		}
		if len(out.Messages) > 1 {
			t.Fatalf("%d messages, want 1", len(out.Messages))
		}
		if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &env); err != nil {
			t.Fatalf("message body %q: %v", aws.ToString(out.Messages[0].Body), err)
		}
		return true, ""
	})
	if env.Type != "Notification" {
		t.Fatalf("envelope %+v, want an SNS Notification", env)
	}
	return env
}
