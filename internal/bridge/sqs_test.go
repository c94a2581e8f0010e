//go:build integration

package bridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// queues creates a fresh queue and dead-letter queue on the local stack's
// SQS (local-aws-sqs) and removes them after the test.
func queues(t *testing.T) (api *sqs.Client, queue, dlq string) {
	t.Helper()
	st := stacktest.Require(t, stacktest.SQS)
	api = st.AWS.SQS
	ctx := context.Background()
	mk := func(name string) string {
		out, err := api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatalf("creating SQS queue %s: %v", name, err)
		}
		t.Cleanup(func() { _, _ = api.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
		return aws.ToString(out.QueueUrl)
	}
	name := stacktest.Unique("bridge-test-")
	return api, mk(name), mk(name + "-dlq")
}

// consume runs a consumer until the test ends or the returned stop is
// called; stop waits for Run to return.
func consume(t *testing.T, api *sqs.Client, starter intake.Starter, queue, dlq string, tune func(*config.SQS)) (stop func()) {
	t.Helper()
	st := stacktest.Require(t, stacktest.Temporal)
	cfg := *st.Config
	cfg.Temporal.TaskQueue = stacktest.Unique("bridge-test-")
	if starter == nil {
		starter = st.Temporal
	}
	q := config.SQS{Queue: queue, DeadLetterQueue: dlq, MaxReceives: 3, VisibilityTimeout: 30 * time.Second, WaitTime: time.Second, Concurrency: 4, ShutdownGrace: 5 * time.Second}
	if tune != nil {
		tune(&q)
	}
	c := &bridge.Consumer{
		Intake: &intake.Intake{Temporal: starter, Config: &cfg, Log: slog.New(slog.DiscardHandler)},
		SQS:    api, Config: q, Log: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("consumer: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("the consumer did not stop within a minute of its context ending")
		}
	}
	t.Cleanup(stop)
	return stop
}

func send(t *testing.T, api *sqs.Client, queue, body string) {
	t.Helper()
	if _, err := api.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
}

// depth is how many messages the queue holds, visible or in flight.
func depth(t *testing.T, api *sqs.Client, queue string) int {
	t.Helper()
	out, err := api.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queue), AttributeNames: []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	b, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return a + b
}

// receive takes the visible messages of a queue (with their attributes).
func receive(t *testing.T, api *sqs.Client, queue string, wait time.Duration) []types.Message {
	t.Helper()
	out, err := api.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: int32(wait / time.Second),
		MessageAttributeNames: []string{"All"}, AttributeNames: []types.QueueAttributeName{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

func s3eventFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../s3event/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Every shape an SQS queue carries becomes one workflow start, and the
// message is deleted; s3:TestEvent messages are acknowledged and dropped.
func TestSQSEveryMessageShapeStartsItsWorkflow(t *testing.T) {
	t.Parallel()
	st := stacktest.Require(t, stacktest.Temporal, stacktest.SQS)
	api, queue, dlq := queues(t)
	var ids []string
	for _, f := range []struct{ file, version, key string }{
		{"aws-s3-put.json", "096fKKXTRTtl3on89fVO.nfljtsv6qko", "globex/inbound/2026/11/batch=7.xml"},
		{"aws-sns-s3-put.json", "096fKKXTRTtl3on89fVO.nfljtsv6qko", "globex/inbound/2026/11/batch=7.xml"},
		{"aws-eventbridge-object-created.json", "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", "acme/inbound/Q4 report+final.csv"},
		{"aws-sns-eventbridge-object-created.json", "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", "acme/inbound/Q4 report+final.csv"},
	} {
		v := stacktest.Unique("v")
		send(t, api, queue, strings.ReplaceAll(s3eventFixture(t, f.file), f.version, v))
		partner, _, _ := strings.Cut(f.key, "/")
		ids = append(ids, fileid.WorkflowID(partner, "landing", f.key, v))
	}
	send(t, api, queue, `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-20T09:00:00.000Z","Bucket":"landing","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw"}`)
	send(t, api, queue, s3eventFixture(t, "aws-sns-s3-testevent.json"))
	consume(t, api, nil, queue, dlq, nil)

	stacktest.Eventually(t, 30*time.Second, func() (bool, string) {
		n := depth(t, api, queue)
		return n == 0, fmt.Sprintf("%d messages not yet handled and deleted", n)
	})
	for _, id := range ids {
		if _, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, ""); err != nil {
			t.Errorf("workflow %s was not started: %v", id, err)
		}
		terminate(t, st.Temporal, id)
	}
	if n := depth(t, api, dlq); n != 0 {
		t.Errorf("%d messages went to the dead-letter queue, want none", n)
	}
}

// A message that can never become a start goes to the dead-letter queue
// at once, with the reason, and leaves the queue.
func TestSQSPoisonMessagesAreDeadLetteredWithTheReason(t *testing.T) {
	t.Parallel()
	api, queue, dlq := queues(t)
	send(t, api, queue, "this is not an S3 event")
	send(t, api, queue, strings.Replace(s3eventFixture(t, "aws-eventbridge-object-created.json"), `"aws.s3"`, `"aws.ec2"`, 1))
	consume(t, api, nil, queue, dlq, nil)

	stacktest.Eventually(t, 30*time.Second, func() (bool, string) {
		dead, left := depth(t, api, dlq), depth(t, api, queue)
		return dead == 2 && left == 0, fmt.Sprintf("%d of the 2 poison messages dead-lettered, %d left in the queue", dead, left)
	})
	reasons := ""
	for _, m := range receive(t, api, dlq, time.Second) {
		reason := aws.ToString(m.MessageAttributes["ferry-error"].StringValue)
		if !strings.HasPrefix(reason, "malformed S3 event notification") {
			t.Errorf("dead-lettered message %q has reason %q", aws.ToString(m.Body), reason)
		}
		if aws.ToString(m.MessageAttributes["ferry-source-queue"].StringValue) != queue {
			t.Errorf("dead-lettered message does not name its source queue: %v", m.MessageAttributes)
		}
		reasons += reason + "\n"
	}
	for _, want := range []string{"not an S3 event notification JSON object", `from source "aws.ec2", not aws.s3`} {
		if !strings.Contains(reasons, want) {
			t.Errorf("no dead-letter reason says %q; reasons:\n%s", want, reasons)
		}
	}
}

// A start that keeps failing is retried, then dead-lettered with the last
// error once the message has been received max_receives times.
func TestSQSFailingStartIsRetriedThenDeadLettered(t *testing.T) {
	t.Parallel()
	api, queue, dlq := queues(t)
	body, _ := uploadEvent(t)
	send(t, api, queue, body)
	// A real client whose frontend is down: the start fails as in an outage.
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	starter := &countingStarter{Client: down}
	consume(t, api, starter, queue, dlq, func(c *config.SQS) { c.MaxReceives = 2 })

	stacktest.Eventually(t, 60*time.Second, func() (bool, string) {
		dead, left := depth(t, api, dlq), depth(t, api, queue)
		return dead == 1 && left == 0, fmt.Sprintf("%d messages dead-lettered, %d left in the queue, %d starts tried", dead, left, starter.calls.Load())
	})
	if n := starter.calls.Load(); n < 2 {
		t.Errorf("the start was tried %d times before dead-lettering, want at least 2", n)
	}
	m := receive(t, api, dlq, time.Second)[0]
	if reason := aws.ToString(m.MessageAttributes["ferry-error"].StringValue); !strings.Contains(reason, "workflow start failed") || !strings.Contains(reason, "connection refused") {
		t.Errorf("dead-letter reason %q does not say the start failed and why", reason)
	}
	if aws.ToString(m.Body) != body {
		t.Error("the dead-lettered body differs from the original message")
	}
}

// On SIGTERM a start that does not finish within the grace period is
// abandoned and its message released at once, not after its visibility
// timeout: another replica takes it straight away.
func TestSQSShutdownReleasesUnfinishedMessages(t *testing.T) {
	t.Parallel()
	api, queue, dlq := queues(t)
	body, _ := uploadEvent(t)
	send(t, api, queue, body)
	starter := newHeldStarter(0)
	stop := consume(t, api, starter, queue, dlq, func(c *config.SQS) {
		c.VisibilityTimeout = 10 * time.Minute
		c.ShutdownGrace = 200 * time.Millisecond
	})
	starter.waitCalled(t)
	stop()
	// Hidden for ten minutes unless released. (Short polls: local-aws-sqs
	// answers a long poll early only for newly sent messages.)
	var got []types.Message
	stacktest.Eventually(t, 15*time.Second, func() (bool, string) {
		got = receive(t, api, queue, time.Second)
		return len(got) > 0, "the queue gives no message: the unfinished one is still hidden"
	})
	if len(got) != 1 || aws.ToString(got[0].Body) != body {
		t.Fatalf("after shutdown the queue gave %d messages, want the released one", len(got))
	}
}

// On SIGTERM a start in flight may finish within the grace period, and its
// message is then deleted rather than handled twice.
func TestSQSShutdownFinishesStartsWithinGrace(t *testing.T) {
	t.Parallel()
	api, queue, dlq := queues(t)
	body, _ := uploadEvent(t)
	send(t, api, queue, body)
	starter := newHeldStarter(0)
	stop := consume(t, api, starter, queue, dlq, func(c *config.SQS) { c.ShutdownGrace = time.Minute })
	starter.waitCalled(t)
	time.AfterFunc(time.Second, func() { close(starter.release) })
	stop()
	if n := depth(t, api, queue); n != 0 {
		t.Errorf("%d messages left after a start finished within the grace period, want 0", n)
	}
	if n := starter.n.Load(); n != 1 {
		t.Errorf("%d starts completed during the grace period, want 1", n)
	}
}

// While a start is slower than the visibility timeout, the consumer keeps
// the message hidden, so no other replica receives it meanwhile.
func TestSQSVisibilityIsExtendedWhileAStartIsSlow(t *testing.T) {
	t.Parallel()
	api, queue, dlq := queues(t)
	body, _ := uploadEvent(t)
	send(t, api, queue, body)
	const visibility = 4 * time.Second
	starter := newHeldStarter(3 * visibility)
	consume(t, api, starter, queue, dlq, func(c *config.SQS) { c.VisibilityTimeout = visibility })
	starter.waitCalled(t)
	// Act as a second replica for longer than the visibility timeout.
	until := time.Now().Add(2 * visibility)
	for time.Now().Before(until) {
		if got := receive(t, api, queue, time.Second); len(got) > 0 {
			t.Fatalf("a second replica received the message while the first was still starting it (receive count %s)", got[0].Attributes["ApproximateReceiveCount"])
		}
	}
	stacktest.Eventually(t, 30*time.Second, func() (bool, string) {
		n := depth(t, api, queue)
		return n == 0, fmt.Sprintf("%d messages in the queue after the slow start", n)
	})
}

// Two bridge replicas on one queue, with every event sent twice: each
// object version gets exactly one workflow and the queue drains.
func TestSQSTwoReplicasShareAQueue(t *testing.T) {
	t.Parallel()
	st := stacktest.Require(t, stacktest.Temporal, stacktest.SQS)
	api, queue, dlq := queues(t)
	body, version := uploadEvent(t)
	const files = 20
	var ids []string
	for i := range files {
		v := fmt.Sprintf("%s-%d", stacktest.Unique("replica-"), i)
		ids = append(ids, fileid.WorkflowID("acme", "landing", "acme/inbound/Résumé 2026+final.csv", v))
		for range 2 {
			send(t, api, queue, strings.Replace(body, version, v, 1))
		}
	}
	consume(t, api, nil, queue, dlq, nil)
	consume(t, api, nil, queue, dlq, nil)
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		n := depth(t, api, queue)
		return n == 0, fmt.Sprintf("%d messages left for the two replicas", n)
	})
	for _, id := range ids {
		terminate(t, st.Temporal, id)
		// Visibility is eventually consistent: wait for the run to show.
		n := 0
		stacktest.Eventually(t, 10*time.Second, func() (bool, string) {
			n = st.Runs(t, id)
			return n > 0, fmt.Sprintf("no run of %s listed", id)
		})
		if n != 1 {
			t.Errorf("workflow %s has %d runs, want 1", id, n)
		}
	}
	if n := depth(t, api, dlq); n != 0 {
		t.Errorf("%d messages dead-lettered, want none", n)
	}
}

// Back-pressure is not failure: messages that wait for the bridge's bound
// are started in turn, never dead-lettered, even with max_receives 1.
func TestSQSBackPressureNeverDeadLetters(t *testing.T) {
	t.Parallel()
	st := stacktest.Require(t)
	api, queue, dlq := queues(t)
	body, version := uploadEvent(t)
	for i := range 6 {
		send(t, api, queue, strings.Replace(body, version, fmt.Sprintf("%s-%d", version, i), 1))
	}
	cfg := *st.Config
	cfg.Bridge.MaxConcurrentStarts, cfg.Bridge.QueueWait = 1, 10*time.Millisecond
	starter := newHeldStarter(300 * time.Millisecond)
	c := &bridge.Consumer{
		Intake: &intake.Intake{Temporal: starter, Config: &cfg, Log: slog.New(slog.DiscardHandler)},
		SQS:    api, Log: slog.New(slog.DiscardHandler),
		Config: config.SQS{Queue: queue, DeadLetterQueue: dlq, MaxReceives: 1, VisibilityTimeout: 30 * time.Second, WaitTime: time.Second, Concurrency: 6, ShutdownGrace: time.Minute},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		left, started := depth(t, api, queue), starter.n.Load()
		return left == 0 && started == 6, fmt.Sprintf("%d of 6 started, %d messages in the queue", started, left)
	})
	if n := depth(t, api, dlq); n != 0 {
		t.Errorf("%d messages dead-lettered while waiting for the bound, want 0", n)
	}
}
