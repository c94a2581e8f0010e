package health

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.temporal.io/sdk/client"
)

// The checks below are the calls Ferry's readiness makes. Each is one
// cheap read of a resource the process cannot work without, and each
// needs an IAM permission the process's role must grant
// (s3:ListBucket for HeadBucket, dynamodb:DescribeTable,
// sqs:GetQueueAttributes, and sqs:GetQueueUrl for a queue given by name,
// which the bridge's consumer needs anyway).

// Temporal checks that the frontend answers its gRPC health check.
func Temporal(c client.Client, address string) Check {
	return Check{Name: "temporal " + address, Run: func(ctx context.Context) error {
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}
}

// BucketAPI is the part of the S3 client Bucket uses.
type BucketAPI interface {
	HeadBucket(ctx context.Context, in *s3.HeadBucketInput, opts ...func(*s3.Options)) (*s3.HeadBucketOutput, error)
}

// Bucket checks that S3 answers for bucket and the process may see it.
func Bucket(api BucketAPI, bucket string) Check {
	return Check{Name: "s3 bucket " + bucket, Run: func(ctx context.Context) error {
		_, err := api.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		return err
	}}
}

// TableAPI is the part of the DynamoDB client Table uses.
type TableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Table checks that DynamoDB answers for table and that it exists.
func Table(api TableAPI, table string) Check {
	return Check{Name: "dynamodb table " + table, Run: func(ctx context.Context) error {
		_, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		return err
	}}
}

// QueueAPI is the part of the SQS client Queue uses.
type QueueAPI interface {
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Queue checks that SQS answers for the queue (a URL, or a name looked up
// once, as bridge.sqs.queue may be either).
func Queue(api QueueAPI, nameOrURL string) Check {
	var (
		mu  sync.Mutex
		url string
	)
	if strings.HasPrefix(nameOrURL, "https://") || strings.HasPrefix(nameOrURL, "http://") {
		url = nameOrURL
	}
	return Check{Name: "sqs queue " + nameOrURL, Run: func(ctx context.Context) error {
		mu.Lock()
		u := url
		mu.Unlock()
		if u == "" {
			out, err := api.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(nameOrURL)})
			if err != nil {
				return fmt.Errorf("looking up the queue's URL: %w", err)
			}
			u = aws.ToString(out.QueueUrl)
			mu.Lock()
			url = u
			mu.Unlock()
		}
		_, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl:       aws.String(u),
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
		})
		return err
	}}
}
