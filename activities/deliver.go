package activities

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/governance"
)

// DeliverInput is Deliver's input: the inspected source, its destination
// and the partner's governance policy.
type DeliverInput struct {
	File       FileRef
	Inspection InspectResult
	DestBucket string
	DestKey    string
	Governance governance.Policy
}

// DeliverResult names the delivered version and the controls applied to it,
// as read back from S3.
type DeliverResult struct {
	DestBucket    string
	DestKey       string
	DestVersionID string
	// Reused is true when an earlier attempt had already delivered this
	// file and its version was verified and kept instead of copying again.
	Reused        bool
	Encryption    string    // as S3 reports it: AES256 or aws:kms
	KMSKeyID      string    // for aws:kms
	RetentionMode string    // GOVERNANCE or COMPLIANCE
	RetainUntil   time.Time // end of the Object Lock retention
}

// Metadata keys Ferry sets on the objects it writes (x-amz-meta-*).
const (
	metaFileID        = "ferry-file-id"
	metaPartner       = "ferry-partner"
	metaSHA256        = "ferry-sha256"
	metaSourceVersion = "ferry-source-version"
)

// Deliver copies the inspected version server-side to the destination (the
// bytes never pass through the worker), applies the partner's governance
// (encryption, Object Lock retention, tags) and verifies the new version:
// size, SHA-256, S3 checksum and every control, as S3 reports them. It is
// idempotent: a retry finds and re-verifies the version an earlier attempt
// wrote instead of writing a second one.
func (a *Activities) Deliver(ctx context.Context, in *DeliverInput) (*DeliverResult, error) {
	f, insp, gov := in.File, in.Inspection, in.Governance
	tags := url.Values{"ferry-partner": {f.Partner}, "ferry-sha256": {insp.SHA256}, "ferry-file-id": {f.FileID}}
	head, reused, err := a.copyVersion(ctx, f, in.DestBucket, in.DestKey, insp.ContentType, insp.SHA256, func(c *s3.CopyObjectInput) {
		c.Tagging, c.TaggingDirective = aws.String(tags.Encode()), types.TaggingDirectiveReplace
		switch gov.Encryption {
		case governance.SSES3:
			c.ServerSideEncryption = types.ServerSideEncryptionAes256
		case governance.SSEKMS:
			c.ServerSideEncryption, c.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(gov.KMSKeyID)
		}
		if gov.RetentionMode != "" {
			c.ObjectLockMode = types.ObjectLockMode(gov.RetentionMode)
			c.ObjectLockRetainUntilDate = aws.Time(gov.RetainUntil(time.Now()))
		}
	})
	if err != nil {
		return nil, err
	}
	if err := verify(in, head); err != nil {
		return nil, err
	}
	res := &DeliverResult{
		DestBucket: in.DestBucket, DestKey: in.DestKey, DestVersionID: aws.ToString(head.VersionId), Reused: reused,
		Encryption: string(head.ServerSideEncryption), KMSKeyID: aws.ToString(head.SSEKMSKeyId),
		RetentionMode: string(head.ObjectLockMode), RetainUntil: aws.ToTime(head.ObjectLockRetainUntilDate),
	}
	f.logger(ctx).Info("delivered file", "dest_bucket", in.DestBucket, "dest_key", in.DestKey, "dest_version_id", res.DestVersionID,
		"reused", reused, "encryption", res.Encryption, "retention_mode", res.RetentionMode, "retain_until", res.RetainUntil)
	return res, nil
}

// copyVersion copies the source version to bucket/key unless the current
// version there was already written for this file (a retried attempt), and
// returns the destination version's metadata as S3 reports it.
func (a *Activities) copyVersion(ctx context.Context, f FileRef, bucket, key, contentType, sha string, opts func(*s3.CopyObjectInput)) (*s3.HeadObjectOutput, bool, error) {
	headOf := func(version *string) (*s3.HeadObjectOutput, error) {
		return a.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: version, ChecksumMode: types.ChecksumModeEnabled})
	}
	prev, err := headOf(nil)
	if err == nil && prev.Metadata[metaFileID] == f.FileID {
		return prev, true, nil
	}
	if err != nil && !isNotFound(err) {
		return nil, false, fmt.Errorf("checking s3://%s/%s: %w", bucket, key, err)
	}
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		CopySource:        aws.String(copySource(f)),
		CopySourceIfMatch: etagCondition(f),
		MetadataDirective: types.MetadataDirectiveReplace,
		ContentType:       aws.String(contentType),
		Metadata: map[string]string{
			metaFileID: f.FileID, metaPartner: f.Partner, metaSHA256: sha, metaSourceVersion: orETag(f),
		},
	}
	if contentType == "" {
		in.ContentType = nil
	}
	if opts != nil {
		opts(in)
	}
	out, err := a.S3.CopyObject(ctx, in)
	if err != nil {
		if isNotFound(err) || isPreconditionFailed(err) {
			return nil, false, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("s3://%s/%s version %s vanished (deleted or overwritten) before it could be copied to s3://%s/%s; the partner must upload it again",
					f.Bucket, f.Key, orETag(f), bucket, key), ErrObjectVanished, err)
		}
		if isBadRequest(err) {
			return nil, false, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("S3 refused to copy s3://%s/%s to s3://%s/%s as invalid: %v; check the partner's governance against the bucket (retention needs Object Lock, enabled when the bucket is created; SSE-KMS needs an existing key), fix the config, then reset the workflow",
					f.Bucket, f.Key, bucket, key, err), ErrDestinationRefused, err)
		}
		return nil, false, fmt.Errorf("copying s3://%s/%s (version %s) to s3://%s/%s: %w", f.Bucket, f.Key, orETag(f), bucket, key, err)
	}
	head, err := headOf(versionPtr(aws.ToString(out.VersionId)))
	if err != nil {
		return nil, false, fmt.Errorf("reading back s3://%s/%s version %s: %w", bucket, key, aws.ToString(out.VersionId), err)
	}
	return head, false, nil
}

// verify checks a delivered version against what inspection read and the
// governance asked for. A mismatch is never retried into silence.
func verify(in *DeliverInput, h *s3.HeadObjectOutput) error {
	insp, gov := in.Inspection, in.Governance
	fail := func(what string, want, got any) error {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("delivered s3://%s/%s version %s has %s %v, expected %v: the delivery is not trustworthy; investigate before releasing it",
				in.DestBucket, in.DestKey, aws.ToString(h.VersionId), what, got, want), ErrDeliveryVerification, nil)
	}
	if got := aws.ToInt64(h.ContentLength); got != insp.Size {
		return fail("size", insp.Size, got)
	}
	if got := h.Metadata[metaSHA256]; got != insp.SHA256 {
		return fail("recorded SHA-256", insp.SHA256, got)
	}
	if insp.S3ChecksumAlgorithm != "" {
		if alg, got, _ := storedChecksum(h); alg == insp.S3ChecksumAlgorithm && got != insp.S3Checksum {
			return fail(alg, insp.S3Checksum, got)
		}
	}
	switch gov.Encryption {
	case governance.SSES3:
		if h.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			return fail("encryption", types.ServerSideEncryptionAes256, h.ServerSideEncryption)
		}
	case governance.SSEKMS:
		if h.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
			return fail("encryption", types.ServerSideEncryptionAwsKms, h.ServerSideEncryption)
		}
	}
	if gov.RetentionMode != "" {
		if string(h.ObjectLockMode) != gov.RetentionMode {
			return fail("Object Lock mode", gov.RetentionMode, h.ObjectLockMode)
		}
		// Measured from when the version was written, so a reused version
		// from an earlier attempt passes too; a minute of clock slack.
		want := gov.RetainUntil(aws.ToTime(h.LastModified)).Add(-time.Minute)
		if until := aws.ToTime(h.ObjectLockRetainUntilDate); until.Before(want) {
			return fail("retention until", want, until)
		}
	}
	return nil
}
