// Package awsclients builds Ferry's AWS service clients from the standard
// aws-sdk-go-v2 config chain. Endpoints are never set in code: locally they
// come from AWS_ENDPOINT_URL_S3 / _DYNAMODB / _SQS / _SNS (or the shared
// config file), in AWS from the region's defaults.
package awsclients

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Clients are the AWS clients one Ferry process uses.
type Clients struct {
	// Config is the aws.Config they were built from, for a client of
	// another endpoint of the same credentials (goaws's own SQS queues).
	Config   aws.Config
	S3       *s3.Client
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	SNS      *sns.Client
}

// Load reads the AWS config chain and builds the clients. pathStyle is
// needed for MinIO and other S3 implementations without virtual hosts.
func Load(ctx context.Context, pathStyle bool) (*Clients, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx,
		// The SDK's standard retryer (exponential backoff with jitter,
		// throttling-aware); a few more attempts than its default of 3
		// ride out a busy local stack.
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 5 })
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("loading AWS config (credentials, region, endpoints): %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region configured: set AWS_REGION (any region works for a local stack)")
	}
	return &Clients{
		Config:   cfg,
		S3:       s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }),
		DynamoDB: dynamodb.NewFromConfig(cfg),
		SQS:      sqs.NewFromConfig(cfg),
		SNS:      sns.NewFromConfig(cfg),
	}, nil
}
