package stacktest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// GoAWSSQS is a client of goaws's own SQS queues, the only queues its SNS
// topics deliver to (the bridge's queues are local-aws-sqs's).
func (s *Stack) GoAWSSQS() *sqs.Client {
	return sqs.NewFromConfig(s.AWS.Config, func(o *sqs.Options) { o.BaseEndpoint = aws.String(s.Env["AWS_ENDPOINT_URL_SNS"]) })
}

// SNSTopic creates a fresh SNS topic with a goaws SQS queue subscribed to
// it (SNS envelope, as AWS delivers without raw delivery) and returns the
// topic's ARN and the queue's URL.
func (s *Stack) SNSTopic(t testing.TB) (topicARN, queueURL string) {
	t.Helper()
	ctx := context.Background()
	name := Unique("ferry-test-")
	topic, err := s.AWS.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("creating SNS topic %s: %v", name, err)
	}
	q := s.GoAWSSQS()
	queue, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("creating goaws queue %s: %v", name, err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: queue.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("reading %s's ARN: %v", name, err)
	}
	if _, err := s.AWS.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])}); err != nil {
		t.Fatalf("subscribing %s to %s: %v", name, aws.ToString(topic.TopicArn), err)
	}
	t.Cleanup(func() {
		_, _ = s.AWS.SNS.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: topic.TopicArn})
		_, _ = q.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: queue.QueueUrl})
	})
	return aws.ToString(topic.TopicArn), aws.ToString(queue.QueueUrl)
}
