// Command provision prepares a local stack for Ferry, idempotently: the
// buckets (landing and quarantine versioned, destinations versioned with
// Object Lock), the landing bucket's webhook notification to the bridge,
// the DynamoDB tables, the bridge's SQS queues, the notification SNS
// topics with a subscribed queue each, one MinIO user per partner whose policy allows
// only that partner's landing prefix (its SFTP login), and the SSH user CA
// and each partner's certified key it logs in with (sftpkeys.go), and the
// PGP keys of partners whose files are decrypted (internal/localkeys).
//
// With --sftp-keys-only it makes only the keys, which need no service: the
// stack runs that before MinIO starts, as MinIO must be given the CA. It
// then prints one line per configured partner, "<partner> <private key>",
// for the stack's summary.
//
// It uses only S3, DynamoDB and SQS APIs plus MinIO's admin API for users.
// In AWS the same things are Terraform's (deploy/terraform), with AWS
// Transfer Family for SFTP.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/minio/madmin-go/v3"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/localkeys"
	"github.com/ferrydata/ferry/internal/logging"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "provision:", err)
		os.Exit(1)
	}
}

func run() error {
	logging.Setup("provision")
	configPath := flag.String("config", os.Getenv("FERRY_CONFIG"), "Ferry config file")
	secrets := flag.String("secrets-dir", "", "folder keeping each partner's MinIO secret key (MinIO needs one per user; SFTP logins never use it)")
	keysDir := flag.String("sftp-keys-dir", "", "folder keeping the SFTP user CA and each partner's certified SSH key")
	keysOnly := flag.Bool("sftp-keys-only", false, "make only the SFTP user CA and the partners' certified keys (no service needed), print each partner's key path, and stop")
	target := flag.String("webhook-target", "FERRY", "MinIO notify_webhook target ID the landing bucket notifies")
	flag.Parse()
	if *keysDir == "" {
		return errors.New("--sftp-keys-dir is required: the folder for the SFTP user CA and the partners' keys")
	}
	if *secrets == "" && !*keysOnly {
		return errors.New("--secrets-dir is required: the folder for the partners' MinIO secret keys")
	}
	os.Setenv("FERRY_CONFIG", *configPath)
	cfg, err := config.Load(nil)
	if err != nil {
		return err
	}
	if err := ensureSFTPKeys(*keysDir, cfg.PartnerNames(), time.Now()); err != nil {
		return err
	}
	if err := localkeys.EnsurePGP(cfg); err != nil {
		return err
	}
	if *keysOnly {
		for _, p := range cfg.PartnerNames() {
			fmt.Printf("%s %s\n", p, PartnerKeyPath(*keysDir, p))
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}

	if err := ensureBucket(ctx, clients.S3, cfg.Landing.Bucket, false); err != nil {
		return err
	}
	if err := ensureBucket(ctx, clients.S3, cfg.Quarantine.Bucket, false); err != nil {
		return err
	}
	for _, name := range cfg.PartnerNames() {
		if err := ensureBucket(ctx, clients.S3, cfg.Partners[name].Destination.Bucket, true); err != nil {
			return err
		}
	}
	if a := cfg.Audit.Anchor; a.Bucket != "" {
		if err := anchor.CreateBucket(ctx, clients.S3, a.Bucket, a.RetentionDays); err != nil {
			return err
		}
		slog.Info("anchor bucket ready", "bucket", a.Bucket, "object_lock", "COMPLIANCE", "retention_days", a.RetentionDays)
	}
	arn := fmt.Sprintf("arn:minio:sqs::%s:webhook", *target)
	if _, err := clients.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(cfg.Landing.Bucket),
		NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
			Id: aws.String("ferry-bridge"), QueueArn: aws.String(arn), Events: []types.Event{"s3:ObjectCreated:*"},
		}}},
	}); err != nil {
		return fmt.Errorf("sending %s's ObjectCreated events to %s (is MINIO_NOTIFY_WEBHOOK_ENABLE_%s=on set?): %w", cfg.Landing.Bucket, arn, *target, err)
	}
	slog.Info("landing notifications go to the bridge", "bucket", cfg.Landing.Bucket, "arn", arn)

	if err := filestore.CreateTable(ctx, clients.DynamoDB, cfg.DynamoDB.FilesTable); err != nil {
		return err
	}
	slog.Info("table ready", "table", cfg.DynamoDB.FilesTable)
	if err := audit.CreateTable(ctx, clients.DynamoDB, cfg.DynamoDB.AuditTable); err != nil {
		return err
	}
	slog.Info("table ready", "table", cfg.DynamoDB.AuditTable)
	if err := ensureQueues(ctx, clients.SQS, cfg.Bridge.SQS); err != nil {
		return err
	}
	if err := ensureTopics(ctx, clients, cfg.Notify.SNS); err != nil {
		return err
	}
	return ensurePartners(ctx, cfg, *secrets)
}

// ensureQueues creates the bridge's SQS queue and dead-letter queue when
// the config names them (URLs are someone else's to create). The queue's
// own redrive policy is a backstop at twice the bridge's max_receives: it
// catches a message that crashes the bridge itself, which then cannot
// dead-letter it with a reason.
func ensureQueues(ctx context.Context, c *sqs.Client, q config.SQS) error {
	named := func(s string) bool { return s != "" && !strings.Contains(s, "://") }
	if !named(q.Queue) {
		return nil
	}
	attrs := map[string]string{"VisibilityTimeout": strconv.Itoa(int(q.VisibilityTimeout / time.Second))}
	if named(q.DeadLetterQueue) {
		dlqURL, dlqARN, err := createQueue(ctx, c, q.DeadLetterQueue)
		if err != nil {
			return err
		}
		redrive, _ := json.Marshal(map[string]any{"deadLetterTargetArn": dlqARN, "maxReceiveCount": 2 * q.MaxReceives})
		attrs["RedrivePolicy"] = string(redrive)
		slog.Info("queue ready", "queue", dlqURL)
	}
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q.Queue), Attributes: attrs})
	if err != nil {
		return fmt.Errorf("creating SQS queue %s: %w", q.Queue, err)
	}
	slog.Info("queue ready", "queue", aws.ToString(out.QueueUrl), "redrive", attrs["RedrivePolicy"])
	return nil
}

// ensureTopics creates each notification topic the config names (ARNs
// are someone else's to create) and subscribes a queue of the same name
// to it, so what Ferry publishes can be read back. SNS emulators deliver
// only to their own queues: goaws serves SQS on its SNS endpoint
// (AWS_ENDPOINT_URL_SNS), not on the bridge's local-aws-sqs.
func ensureTopics(ctx context.Context, clients *awsclients.Clients, topics []config.SNSTopic) error {
	q := sqs.NewFromConfig(clients.Config, func(o *sqs.Options) {
		if ep := os.Getenv("AWS_ENDPOINT_URL_SNS"); ep != "" {
			o.BaseEndpoint = aws.String(ep)
		}
	})
	for _, t := range topics {
		if config.IsTopicARN(t.Topic) {
			continue
		}
		topic, err := clients.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(t.Topic)})
		if err != nil {
			return fmt.Errorf("creating SNS topic %s: %w", t.Topic, err)
		}
		queueURL, queueARN, err := createQueue(ctx, q, t.Topic)
		if err != nil {
			return err
		}
		subs, err := clients.SNS.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: topic.TopicArn})
		if err != nil {
			return fmt.Errorf("listing %s's subscriptions: %w", t.Topic, err)
		}
		subscribed := false
		for _, s := range subs.Subscriptions {
			subscribed = subscribed || aws.ToString(s.Endpoint) == queueARN
		}
		if !subscribed {
			if _, err := clients.SNS.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(queueARN)}); err != nil {
				return fmt.Errorf("subscribing queue %s to topic %s: %w", t.Topic, t.Topic, err)
			}
		}
		slog.Info("topic ready", "topic", aws.ToString(topic.TopicArn), "subscribed_queue", queueURL)
	}
	return nil
}

// createQueue creates (or finds) a queue with default attributes and
// returns its URL and ARN.
func createQueue(ctx context.Context, c *sqs.Client, name string) (url, arn string, err error) {
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		return "", "", fmt.Errorf("creating SQS queue %s: %w", name, err)
	}
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("reading %s's ARN: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), a.Attributes["QueueArn"], nil
}

func ensureBucket(ctx context.Context, c *s3.Client, bucket string, objectLock bool) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(objectLock)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("creating bucket %s: %w", bucket, err)
	}
	if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket: aws.String(bucket), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		return fmt.Errorf("enabling versioning on %s: %w", bucket, err)
	}
	slog.Info("bucket ready", "bucket", bucket, "versioned", true, "object_lock", objectLock)
	return nil
}

// partnerPolicy lets a partner list, read, write and delete only below
// <landing>/<partner>/. MinIO's SFTP has no per-user home folder, so this
// policy is the partner's jail.
func partnerPolicy(landing, partner string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Effect": "Allow", "Action": []string{"s3:GetBucketLocation"}, "Resource": []string{"arn:aws:s3:::" + landing}},
			// MinIO's SFTP write first checks that the bucket exists
			// (HeadBucket). Granting s3:HeadBucket, not an unconditioned
			// s3:ListBucket, keeps the bucket's listing closed.
			{"Effect": "Allow", "Action": []string{"s3:HeadBucket"}, "Resource": []string{"arn:aws:s3:::" + landing}},
			// Listing is allowed only inside the partner's own prefix, so
			// partners cannot see each other's file names.
			{
				"Effect": "Allow", "Action": []string{"s3:ListBucket"}, "Resource": []string{"arn:aws:s3:::" + landing},
				"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": []string{partner, partner + "/", partner + "/*"}}},
			},
			{
				"Effect":   "Allow",
				"Action":   []string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
				"Resource": []string{"arn:aws:s3:::" + landing + "/" + partner + "/*"},
			},
		},
	})
}

func ensurePartners(ctx context.Context, cfg *config.Config, secretsDir string) error {
	endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("AWS_ENDPOINT_URL_S3=%q: partner users need MinIO's admin API at the S3 endpoint", endpoint)
	}
	adm, err := madmin.New(u.Host, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), u.Scheme == "https")
	if err != nil {
		return fmt.Errorf("MinIO admin client for %s: %w", u.Host, err)
	}
	dir := filepath.Join(secretsDir, "minio-users")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, p := range cfg.PartnerNames() {
		// MinIO needs a secret key for every user: with password login off
		// it authenticates nobody over SFTP, whose logins are the certified
		// keys, but the user and its policy are what authorize the login.
		secret, err := partnerSecret(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		if err := adm.AddUser(ctx, p, secret); err != nil {
			return fmt.Errorf("creating MinIO user %s: %w", p, err)
		}
		pol, err := partnerPolicy(cfg.Landing.Bucket, p)
		if err != nil {
			return err
		}
		name := "ferry-partner-" + p
		if err := adm.AddCannedPolicy(ctx, name, pol); err != nil {
			return fmt.Errorf("creating MinIO policy %s: %w", name, err)
		}
		//lint:ignore SA1019 SetPolicy replaces the user's policies, which makes re-runs idempotent; AttachPolicy errors on a re-run.
		if err := adm.SetPolicy(ctx, name, p, false); err != nil {
			return fmt.Errorf("attaching policy %s to user %s: %w", name, p, err)
		}
		slog.Info("partner login ready", "partner", p, "upload_to", fmt.Sprintf("/%s/%s/inbound/", cfg.Landing.Bucket, p))
	}
	return nil
}

// partnerSecret reads a partner's MinIO secret key, generating and keeping
// one on first use: a new one on every run would end the S3 sessions of
// partners logged in over SFTP (MinIO's SFTP server acts with the user's
// credentials).
func partnerSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var sb strings.Builder
	for range 24 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		sb.WriteByte(alphabet[n.Int64()])
	}
	if err := os.WriteFile(path, []byte(sb.String()+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keeping partner secret key in %s: %w", path, err)
	}
	return sb.String(), nil
}
