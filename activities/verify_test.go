package activities

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/governance"
)

// verify takes only what S3 reports about the delivered version: a control
// S3 accepted in the request but does not report is not applied, and the
// message says what was asked, what S3 reported and what to do. (The
// integration tests see the same against each S3 server; these cover the
// reports no local server gives, such as Object Lock that is accepted and
// not applied.)
func TestVerifyTakesOnlyWhatS3Reports(t *testing.T) {
	written := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	kms := governance.Policy{Encryption: governance.SSEKMS, KMSKeyID: "arn:aws:kms:eu-west-1:123456789012:key/k1", RetentionMode: governance.Compliance, RetentionDays: 7}
	applied := func() *s3.HeadObjectOutput {
		return &s3.HeadObjectOutput{
			ContentLength: aws.Int64(4), Metadata: map[string]string{metaSHA256: "abc"}, VersionId: aws.String("v1"), LastModified: aws.Time(written),
			ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(kms.KMSKeyID),
			ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(written.Add(7 * 24 * time.Hour)),
		}
	}
	tests := []struct {
		name   string
		policy governance.Policy
		report func(*s3.HeadObjectOutput)
		want   string // "" for a version that passes
	}{
		{"everything applied", kms, func(*s3.HeadObjectOutput) {}, ""},
		{"SSE-KMS accepted, nothing applied", kms, func(h *s3.HeadObjectOutput) { h.ServerSideEncryption, h.SSEKMSKeyId = "", nil },
			"delivered s3://delivered/acme/a.csv version v1: asked for SSE-KMS (aws:kms) with key arn:aws:kms:eu-west-1:123456789012:key/k1, S3 reports no server-side encryption: this S3 does not apply SSE-KMS: use an S3 that does, or change partners.acme.governance.encryption"},
		{"SSE-KMS asked, SSE-S3 applied", kms, func(h *s3.HeadObjectOutput) {
			h.ServerSideEncryption, h.SSEKMSKeyId = types.ServerSideEncryptionAes256, nil
		},
			"asked for SSE-KMS (aws:kms) with key arn:aws:kms:eu-west-1:123456789012:key/k1, S3 reports server-side encryption AES256: this S3 does not apply SSE-KMS"},
		{"SSE-S3 accepted, nothing applied", governance.Policy{Encryption: governance.SSES3}, func(h *s3.HeadObjectOutput) { h.ServerSideEncryption = "" },
			"asked for SSE-S3 (AES256), S3 reports no server-side encryption: this S3 does not apply SSE-S3: use an S3 that does, or change partners.acme.governance.encryption"},
		{"retention accepted, nothing applied", kms, func(h *s3.HeadObjectOutput) { h.ObjectLockMode, h.ObjectLockRetainUntilDate = "", nil },
			"asked for Object Lock retention COMPLIANCE for 7 days, S3 reports no Object Lock retention: this S3 or bucket delivered does not apply Object Lock: use a bucket with Object Lock on an S3 that applies it, or change partners.acme.governance.retention_mode"},
		{"retention in another mode", kms, func(h *s3.HeadObjectOutput) { h.ObjectLockMode = types.ObjectLockModeGovernance },
			"has Object Lock mode GOVERNANCE, expected COMPLIANCE"},
		{"no version of its own", kms, func(h *s3.HeadObjectOutput) { h.VersionId = nil },
			"delivered s3://delivered/acme/a.csv: asked for a new object version, S3 reports no version ID: versioning is off or suspended on bucket delivered; enable it (Ferry delivers only into versioned buckets)"},
		{"a suspended bucket's null version", governance.Policy{}, func(h *s3.HeadObjectOutput) { h.VersionId = aws.String("null") },
			"S3 reports no version ID: versioning is off or suspended on bucket delivered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := applied()
			tt.report(h)
			in := &DeliverInput{File: FileRef{Partner: "acme"}, Inspection: InspectResult{Size: 4, SHA256: "abc"}, DestBucket: "delivered", DestKey: "acme/a.csv", Governance: tt.policy}
			err := verify(in, h)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused a version S3 reports governed as asked: %v", err)
				}
				return
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != ErrDeliveryVerification || !app.NonRetryable() {
				t.Fatalf("got %v, want a non-retryable %s", err, ErrDeliveryVerification)
			}
			if !strings.Contains(app.Message(), tt.want) {
				t.Fatalf("message %q, want it to say %q", app.Message(), tt.want)
			}
		})
	}
}
