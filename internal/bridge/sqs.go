package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.temporal.io/api/serviceerror"
	"golang.org/x/sync/semaphore"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/s3event"
)

// QueueAPI is the part of the SQS client the consumer uses.
type QueueAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Consumer turns S3 event notifications on an SQS queue into workflow
// starts through intake. A message is deleted only after every object it
// announces has a durable start (or is ignored by rule); until then SQS
// redelivers it, so a crash loses nothing. Several consumers (bridge
// replicas) may read one queue: a message handled twice starts the same
// workflow ID, which is a no-op.
type Consumer struct {
	// Intake is shared with the HTTP endpoint of the same process.
	Intake *intake.Intake
	SQS    QueueAPI
	Config config.SQS
	Log    *slog.Logger

	queueURL, dlqURL string
}

// ResolveQueue turns a queue name into its URL; a URL is returned as is.
func ResolveQueue(ctx context.Context, api QueueAPI, nameOrURL string) (string, error) {
	if strings.HasPrefix(nameOrURL, "https://") || strings.HasPrefix(nameOrURL, "http://") {
		return nameOrURL, nil
	}
	out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(nameOrURL)})
	if err != nil {
		return "", fmt.Errorf("looking up SQS queue %q (does it exist, and may this role read it?): %w", nameOrURL, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// Run receives until ctx is cancelled (SIGTERM), then stops receiving,
// lets in-flight messages finish for Config.ShutdownGrace, releases the
// ones still unfinished back to the queue (visibility 0, so another
// replica takes them at once) and returns.
func (c *Consumer) Run(ctx context.Context) error {
	var err error
	if c.queueURL, err = ResolveQueue(ctx, c.SQS, c.Config.Queue); err != nil {
		return err
	}
	if c.Config.DeadLetterQueue != "" {
		if c.dlqURL, err = ResolveQueue(ctx, c.SQS, c.Config.DeadLetterQueue); err != nil {
			return fmt.Errorf("bridge.sqs.dead_letter_queue: %w", err)
		}
	}
	c.Log.Info("consuming S3 events from SQS", "queue", c.queueURL, "dead_letter_queue", c.dlqURL,
		"max_receives", c.Config.MaxReceives, "concurrency", c.Config.Concurrency)

	// work outlives ctx by the grace period: a start in flight at SIGTERM
	// may still finish and have its message deleted.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	slots := semaphore.NewWeighted(int64(c.Config.Concurrency))
	var wg sync.WaitGroup
	backoff := time.Duration(0)
	for {
		// Receive only what there are free slots for (at least one, at
		// most SQS's 10): a received message waiting in memory would only
		// burn its visibility timeout.
		if slots.Acquire(ctx, 1) != nil {
			break
		}
		free := 1
		for free < min(10, c.Config.Concurrency) && slots.TryAcquire(1) {
			free++
		}
		// The receive is not cancelled at SIGTERM: SQS may already have
		// handed messages to a long poll whose connection then drops, and
		// those would stay hidden for their whole visibility timeout. It
		// ends within bridge.sqs.wait_time, and what it brings after
		// SIGTERM is released at once.
		msgs, err := c.receive(context.WithoutCancel(ctx), free)
		c.Intake.Metrics.SQS(ctx, "received", len(msgs))
		slots.Release(int64(free - len(msgs)))
		if ctx.Err() != nil {
			for _, m := range msgs {
				c.setVisibility(m, 0, c.Log.With("message_id", aws.ToString(m.MessageId)))
			}
			c.Intake.Metrics.SQS(ctx, "released", len(msgs))
			break
		}
		if err != nil {
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			c.Log.Error("receiving from SQS failed; retrying", "queue", c.queueURL, "error", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			continue
		}
		backoff = 0
		for _, m := range msgs {
			wg.Add(1)
			go func() {
				defer func() { slots.Release(1); wg.Done() }()
				c.handle(work, m)
			}()
		}
	}

	c.Log.Info("SQS consumer stopping: finishing in-flight messages", "grace", c.Config.ShutdownGrace)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(c.Config.ShutdownGrace):
		// Handlers see the cancellation and release their messages.
		cancelWork()
		<-done
	}
	c.Log.Info("SQS consumer stopped")
	return nil
}

func (c *Consumer) receive(ctx context.Context, n int) ([]types.Message, error) {
	out, err := c.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:            aws.String(c.queueURL),
		MaxNumberOfMessages: int32(n),
		WaitTimeSeconds:     int32(c.Config.WaitTime / time.Second),
		VisibilityTimeout:   int32(c.Config.VisibilityTimeout / time.Second),
		// ApproximateReceiveCount decides when a failing message is dead-
		// lettered. AttributeNames is the older name of the same request
		// field; SQS honours both, and some SQS implementations (the local
		// stack's local-aws-sqs) only the older one.
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		AttributeNames:              []types.QueueAttributeName{types.QueueAttributeName(types.MessageSystemAttributeNameApproximateReceiveCount)},
	})
	if err != nil {
		return nil, err
	}
	return out.Messages, nil
}

// handle turns one message into starts, then deletes, retries, releases
// or dead-letters it.
func (c *Consumer) handle(ctx context.Context, m types.Message) {
	receives, _ := strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	log := c.Log.With("message_id", aws.ToString(m.MessageId), "receive_count", receives)
	stopExtending := c.extendVisibility(ctx, m, log)
	defer stopExtending()

	objs, err := s3event.Parse([]byte(aws.ToString(m.Body)))
	if errors.Is(err, s3event.ErrTestEvent) {
		log.Info("acknowledged s3:TestEvent from SQS")
		c.delete(m, log)
		return
	}
	if err != nil {
		// Retrying cannot fix a malformed message: it is poison.
		c.deadLetter(m, receives, "malformed S3 event notification: "+err.Error(), log)
		return
	}
	for _, o := range objs {
		o.Via = "sqs/" + o.Via
		// At the bridge's bound the consumer waits its turn with the
		// message kept hidden: back-pressure is not a failure. No
		// known-check: a redelivered message starts the same workflow ID,
		// which the start's reuse policy makes a no-op.
		_, err := c.Intake.IngestWhenFree(ctx, o, intake.SkipKnownCheck)
		var invalid *serviceerror.InvalidArgument
		switch {
		case errors.As(err, &invalid):
			// Temporal refuses this start itself (an argument it cannot
			// take): retrying cannot help.
			stopExtending()
			c.deadLetter(m, receives, "Temporal refused the workflow start: "+err.Error(), log)
			return
		case err != nil:
			stopExtending()
			c.failed(ctx, m, receives, err, log)
			return
		}
	}
	c.delete(m, log)
}

// failed decides what happens to a message whose start could not be made
// durable: released at shutdown, retried later, or dead-lettered once it
// has failed Config.MaxReceives times.
func (c *Consumer) failed(ctx context.Context, m types.Message, receives int, err error, log *slog.Logger) {
	switch {
	case ctx.Err() != nil:
		log.Info("released message at shutdown: another replica or the next start takes it")
		c.setVisibility(m, 0, log)
		c.Intake.Metrics.SQS(ctx, "released", 1)
	case receives >= c.Config.MaxReceives && c.dlqURL != "":
		c.deadLetter(m, receives, fmt.Sprintf("workflow start failed on %d receives, the last with: %v", receives, err), log)
	default:
		// Back off: Temporal is unreachable or slow to answer. The message
		// comes back after the delay; without a dead-letter queue of our
		// own, the queue's redrive policy has the last word.
		// 5s, 10s, 20s ... up to 5 minutes: with the default max_receives
		// of 10 a Temporal outage of about 20 minutes is ridden out before
		// messages are dead-lettered (whence SQS's redrive brings them back).
		delay := min(5*time.Second<<min(max(receives-1, 0), 10), 5*time.Minute, c.Config.VisibilityTimeout)
		log.Warn("workflow start failed; the message will be retried", "error", err, "retry_in", delay)
		c.setVisibility(m, delay, log)
		c.Intake.Metrics.SQS(ctx, "retried", 1)
	}
}

// extendVisibility keeps the message hidden while its start is slow
// (waiting for back-pressure, Temporal slow to answer), so no other
// replica picks it up meanwhile. The returned func stops it.
func (c *Consumer) extendVisibility(ctx context.Context, m types.Message, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(c.Config.VisibilityTimeout / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, err := c.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
					QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle,
					VisibilityTimeout: int32(c.Config.VisibilityTimeout / time.Second),
				})
				if err != nil && ctx.Err() == nil {
					log.Warn("could not extend the message's visibility; another replica may also handle it (harmless: the start is idempotent)", "error", err)
				} else if err == nil {
					log.Debug("extended message visibility", "by", c.Config.VisibilityTimeout)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// cleanup runs the SQS calls that settle a message; they must happen even
// when the handling context was cancelled at shutdown.
func cleanup() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

func (c *Consumer) delete(m types.Message, log *slog.Logger) {
	ctx, cancel := cleanup()
	defer cancel()
	if _, err := c.SQS.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		// The message comes back and is started again: a no-op.
		log.Warn("could not delete a handled message; it will be redelivered and ignored as a duplicate", "error", err)
		return
	}
	c.Intake.Metrics.SQS(ctx, "deleted", 1)
	log.Debug("deleted handled message")
}

func (c *Consumer) setVisibility(m types.Message, d time.Duration, log *slog.Logger) {
	ctx, cancel := cleanup()
	defer cancel()
	if _, err := c.SQS.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: int32(d / time.Second),
	}); err != nil {
		log.Warn("could not change the message's visibility; it returns when its timeout ends", "error", err)
	}
}

// deadLetter moves a message to the dead-letter queue with the reason as
// message attributes, then deletes it. Without a dead-letter queue of our
// own the message stays for the queue's redrive policy.
func (c *Consumer) deadLetter(m types.Message, receives int, reason string, log *slog.Logger) {
	if c.dlqURL == "" {
		log.Error("message cannot be ingested; left for the queue's redrive policy (set bridge.sqs.dead_letter_queue to have Ferry move it)", "reason", reason)
		c.setVisibility(m, c.Config.VisibilityTimeout, log)
		return
	}
	ctx, cancel := cleanup()
	defer cancel()
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if len(reason) > 1000 {
		reason = reason[:1000] + "…"
	}
	_, err := c.SQS.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(c.dlqURL),
		MessageBody: m.Body,
		MessageAttributes: map[string]types.MessageAttributeValue{
			"ferry-error":          str(reason),
			"ferry-source-queue":   str(c.queueURL),
			"ferry-source-message": str(aws.ToString(m.MessageId)),
			"ferry-receive-count":  {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(receives))},
		},
	})
	if err != nil {
		log.Error("could not move the message to the dead-letter queue; it stays on the queue", "reason", reason, "error", err)
		return
	}
	log.Error("moved message to the dead-letter queue", "reason", reason, "dead_letter_queue", c.dlqURL)
	c.Intake.Metrics.SQS(ctx, "dead_lettered", 1)
	c.delete(m, log)
}
