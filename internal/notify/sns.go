package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/smithy-go"

	"github.com/ferrydata/ferry/internal/config"
)

// Topic publishes notifications to an SNS topic. The message is the
// event's JSON; its attributes type, partner and status (String) let
// subscribers filter with SNS filter policies, and idempotency_key names
// the notification for deduplication.
type Topic struct {
	cfg    config.SNSTopic
	client *sns.Client

	mu  sync.Mutex
	arn string // cfg.Topic, or the ARN its name was found under
}

// NewTopic returns the SNS target, publishing with client.
func NewTopic(cfg config.SNSTopic, client *sns.Client) *Topic {
	t := &Topic{cfg: cfg, client: client}
	if config.IsTopicARN(cfg.Topic) {
		t.arn = cfg.Topic
	}
	return t
}

func (t *Topic) Name() string        { return t.cfg.Name }
func (t *Topic) Route() config.Route { return t.cfg.Route }

// Send publishes body. On a FIFO topic the idempotency key becomes the
// MessageDeduplicationId (SNS then drops retries itself) and the partner
// the MessageGroupId; on a standard topic it travels as an attribute.
func (t *Topic) Send(ctx context.Context, ev Event, body []byte) error {
	arn, err := t.topicARN(ctx)
	if err != nil {
		return err
	}
	attrs := map[string]types.MessageAttributeValue{}
	for k, v := range map[string]string{"type": ev.Type, "partner": ev.Partner, "status": ev.Status, "idempotency_key": ev.IdempotencyKey()} {
		if v != "" { // SNS refuses empty attribute values
			attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	in := &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(string(body)), MessageAttributes: attrs}
	if strings.HasSuffix(arn, ".fifo") {
		sum := sha256.Sum256([]byte(ev.IdempotencyKey())) // the ID is at most 128 characters
		in.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
		in.MessageGroupId = aws.String(ev.Partner)
	}
	if _, err := t.client.Publish(ctx, in); err != nil {
		return t.classify("publishing to "+arn, err)
	}
	return nil
}

// topicARN returns the topic's ARN, looking a configured name up once.
func (t *Topic) topicARN(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.arn != "" {
		return t.arn, nil
	}
	p := sns.NewListTopicsPaginator(t.client, &sns.ListTopicsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return "", t.classify("listing topics to find "+t.cfg.Topic, err)
		}
		for _, tp := range page.Topics {
			if arn := aws.ToString(tp.TopicArn); arn[strings.LastIndex(arn, ":")+1:] == t.cfg.Topic {
				t.arn = arn
				return arn, nil
			}
		}
	}
	return "", &PermanentError{Target: "sns " + t.cfg.Name, Reason: fmt.Sprintf("no topic named %q (create it, or give its ARN in notify.sns)", t.cfg.Topic)}
}

// classify makes a refusal that retrying cannot fix (topic not found,
// authorization, invalid parameter: SNS's 4xx other than throttling) a
// *PermanentError; network errors and 5xx stay retryable.
func (t *Topic) classify(what string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "Throttled", "Throttling", "ThrottlingException", "KMSThrottling", "ConcurrentAccess":
			return fmt.Errorf("sns %s: %s: %w", t.cfg.Name, what, err)
		}
	}
	var resp *awshttp.ResponseError
	if errors.As(err, &resp) {
		if s := resp.HTTPStatusCode(); s >= 400 && s < 500 && s != http.StatusRequestTimeout && s != http.StatusTooManyRequests {
			return &PermanentError{Target: "sns " + t.cfg.Name, Reason: fmt.Sprintf("%s: %v", what, err)}
		}
	}
	return fmt.Errorf("sns %s: %s: %w", t.cfg.Name, what, err)
}
