package activities

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/ingest"
)

// DeliverInput is Deliver's input: the inspected source, its destination,
// the partner's governance policy and how to copy.
type DeliverInput struct {
	File       FileRef
	Inspection InspectResult
	DestBucket string
	DestKey    string
	Governance governance.Policy
	Copy       ingest.CopyOptions
	// MaxAttempts is the retry policy's limit: the last attempt aborts a
	// multipart upload it cannot finish instead of leaving its parts.
	MaxAttempts int32
}

// DeliverResult names the delivered version and the controls applied to it,
// as read back from S3.
type DeliverResult struct {
	DestBucket    string
	DestKey       string
	DestVersionID string
	// Reused is true when an earlier attempt had already delivered this
	// file and its version was verified and kept instead of copying again.
	Reused bool
	// Multipart is true for a copy in parts; PartsResumed counts the parts
	// an earlier (crashed) attempt had copied and this one kept.
	Multipart     bool
	PartsResumed  int
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
// bytes never pass through the worker) — in one CopyObject, or in parallel
// parts above the multipart threshold — applies the partner's governance
// (encryption, Object Lock retention, tags) and verifies the new version:
// size, SHA-256, S3 checksum and every control, as S3 reports them. It is
// idempotent: a retry finds and re-verifies the version an earlier attempt
// wrote, or continues the multipart upload it started.
func (a *Activities) Deliver(ctx context.Context, in *DeliverInput) (*DeliverResult, error) {
	defer a.timeStage(ctx, in.File, "deliver")()
	f, insp, gov := in.File, in.Inspection, in.Governance
	w := writeOptions{
		contentType: insp.ContentType,
		tagging:     url.Values{"ferry-partner": {f.Partner}, "ferry-sha256": {insp.SHA256}, "ferry-file-id": {f.FileID}}.Encode(),
	}
	switch gov.Encryption {
	case governance.SSES3:
		w.sse = types.ServerSideEncryptionAes256
	case governance.SSEKMS:
		w.sse, w.kmsKeyID = types.ServerSideEncryptionAwsKms, gov.KMSKeyID
	}
	if gov.RetentionMode != "" {
		w.lockMode, w.retainUntil = types.ObjectLockMode(gov.RetentionMode), gov.RetainUntil(time.Now())
	}
	c := &copier{a: a, f: f, bucket: in.DestBucket, key: in.DestKey, size: insp.Size, opts: withDefaults(in.Copy), maxAttempts: in.MaxAttempts}
	head, reused, err := a.copyVersion(ctx, c, insp.SHA256, w)
	if err != nil {
		return nil, err
	}
	if head, err = a.extendRetention(ctx, in, head); err != nil {
		return nil, err
	}
	if err := verify(in, head); err != nil {
		return nil, err
	}
	res := &DeliverResult{
		DestBucket: in.DestBucket, DestKey: in.DestKey, DestVersionID: aws.ToString(head.VersionId), Reused: reused,
		Multipart: c.progress.UploadID != "", PartsResumed: c.resumed,
		Encryption: string(head.ServerSideEncryption), KMSKeyID: aws.ToString(head.SSEKMSKeyId),
		RetentionMode: string(head.ObjectLockMode), RetainUntil: aws.ToTime(head.ObjectLockRetainUntilDate),
	}
	f.logger(ctx).Info("delivered file", "dest_bucket", in.DestBucket, "dest_key", in.DestKey, "dest_version_id", res.DestVersionID,
		"reused", reused, "multipart", res.Multipart, "parts_resumed", res.PartsResumed,
		"encryption", res.Encryption, "retention_mode", res.RetentionMode, "retain_until", res.RetainUntil)
	return res, nil
}

// extendRetention makes the retention run from when the version was
// written. A multipart upload takes its retention date when it is
// created, so a long copy, or one resumed after a worker died, completes
// with less than the partner's retention left; S3 lets retention be
// extended (never shortened), so it is extended to the full period.
func (a *Activities) extendRetention(ctx context.Context, in *DeliverInput, head *s3.HeadObjectOutput) (*s3.HeadObjectOutput, error) {
	gov := in.Governance
	if gov.RetentionMode == "" || head.ObjectLockMode == "" {
		return head, nil // verify says what is missing
	}
	want := gov.RetainUntil(aws.ToTime(head.LastModified))
	if !aws.ToTime(head.ObjectLockRetainUntilDate).Before(want.Add(-time.Minute)) {
		return head, nil
	}
	version := aws.ToString(head.VersionId)
	if _, err := a.S3.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{
		Bucket: aws.String(in.DestBucket), Key: aws.String(in.DestKey), VersionId: head.VersionId,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionMode(head.ObjectLockMode), RetainUntilDate: aws.Time(want)},
	}); err != nil {
		return nil, fmt.Errorf("extending the retention of s3://%s/%s version %s to %s: %w", in.DestBucket, in.DestKey, version, want.UTC().Format(time.RFC3339), err)
	}
	out, err := a.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(in.DestBucket), Key: aws.String(in.DestKey), VersionId: head.VersionId, ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		return nil, fmt.Errorf("reading back s3://%s/%s version %s: %w", in.DestBucket, in.DestKey, version, err)
	}
	in.File.logger(ctx).Info("extended the delivered version's retention to run from when it was written", "dest_version_id", version, "retain_until", want)
	return out, nil
}

// lastAttempt reports whether err ends the activity for good: it is
// non-retryable, the activity was cancelled, or this was the last attempt.
func lastAttempt(ctx context.Context, err error, maxAttempts int32) bool {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.NonRetryable() {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return true
	}
	return activity.IsActivity(ctx) && maxAttempts > 0 && activity.GetInfo(ctx).Attempt >= maxAttempts
}

// copyVersion copies the source version to the copier's destination unless
// the current version there was already written for this file (a retried
// attempt), and returns the destination version's metadata as S3 reports it.
// When the activity's last attempt fails, it aborts the multipart upload
// it cannot finish, so no orphaned parts are left behind.
func (a *Activities) copyVersion(ctx context.Context, c *copier, sha string, w writeOptions) (head *s3.HeadObjectOutput, reused bool, err error) {
	defer func() {
		if err != nil && lastAttempt(ctx, err, c.maxAttempts) {
			c.abort(ctx)
		}
	}()
	f := c.f
	headOf := func(version *string) (*s3.HeadObjectOutput, error) {
		return a.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key), VersionId: version, ChecksumMode: types.ChecksumModeEnabled})
	}
	prev, err := headOf(nil)
	if err == nil && prev.Metadata[metaFileID] == f.FileID {
		return prev, true, nil
	}
	if err != nil && !isNotFound(err) {
		return nil, false, fmt.Errorf("checking s3://%s/%s: %w", c.bucket, c.key, err)
	}
	w.metadata = map[string]string{metaFileID: f.FileID, metaPartner: f.Partner, metaSHA256: sha, metaSourceVersion: orETag(f)}
	stop := c.keepAlive(ctx)
	defer stop()

	var version string
	if c.size > c.opts.MultipartThresholdBytes {
		if version, err = c.multipart(ctx, w); err != nil {
			return nil, false, err
		}
	} else {
		in := &s3.CopyObjectInput{
			Bucket: aws.String(c.bucket), Key: aws.String(c.key),
			CopySource: aws.String(copySource(f)), CopySourceIfMatch: etagCondition(f),
		}
		w.copyObject(in)
		out, err := a.S3.CopyObject(ctx, in)
		if err != nil {
			return nil, false, c.classify(err)
		}
		version = aws.ToString(out.VersionId)
	}
	head, err = headOf(versionPtr(version))
	if err != nil {
		return nil, false, fmt.Errorf("reading back s3://%s/%s version %s: %w", c.bucket, c.key, version, err)
	}
	return head, false, nil
}

// verify checks a delivered version against what inspection read and the
// governance asked for. A mismatch is never retried into silence.
func verify(in *DeliverInput, h *s3.HeadObjectOutput) error {
	insp, gov := in.Inspection, in.Governance
	where := fmt.Sprintf("delivered s3://%s/%s", in.DestBucket, in.DestKey)
	if v := aws.ToString(h.VersionId); v != "" {
		where += " version " + v
	}
	fail := func(what string, want, got any) error {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s has %s %v, expected %v: the delivery is not trustworthy; investigate before releasing it",
				where, what, got, want), ErrDeliveryVerification, nil)
	}
	// notApplied: S3 stored the version without a control Ferry asked for,
	// and says so. Some S3 servers accept a request's governance headers
	// and ignore them (versitygw takes SSE-KMS's and encrypts nothing), so
	// only what S3 reports counts, and the version is never taken as
	// governed.
	notApplied := func(asked, reported, fix string) error {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: asked for %s, S3 reports %s: %s", where, asked, reported, fix), ErrDeliveryVerification, nil)
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
	// Without a version of its own, a delivery is overwritten by the next
	// one to the same key, and the record could name no version.
	if versionPtr(aws.ToString(h.VersionId)) == nil {
		return notApplied("a new object version", "no version ID",
			fmt.Sprintf("versioning is off or suspended on bucket %s; enable it (Ferry delivers only into versioned buckets), then reset the workflow", in.DestBucket))
	}
	partner := "partners." + in.File.Partner + ".governance"
	var sse types.ServerSideEncryption
	switch gov.Encryption {
	case governance.SSES3:
		sse = types.ServerSideEncryptionAes256
	case governance.SSEKMS:
		sse = types.ServerSideEncryptionAwsKms
	}
	if sse != "" && h.ServerSideEncryption != sse {
		asked := fmt.Sprintf("%s (%s)", gov.Encryption, sse)
		if gov.Encryption == governance.SSEKMS {
			asked += " with key " + gov.KMSKeyID
		}
		got := "no server-side encryption"
		if h.ServerSideEncryption != "" {
			got = "server-side encryption " + string(h.ServerSideEncryption)
		}
		return notApplied(asked, got, fmt.Sprintf("this S3 does not apply %s: use an S3 that does, or change %s.encryption", gov.Encryption, partner))
	}
	if gov.RetentionMode != "" {
		if h.ObjectLockMode == "" {
			return notApplied(fmt.Sprintf("Object Lock retention %s for %d days", gov.RetentionMode, gov.RetentionDays), "no Object Lock retention",
				fmt.Sprintf("this S3 or bucket %s does not apply Object Lock: use a bucket with Object Lock on an S3 that applies it, or change %s.retention_mode", in.DestBucket, partner))
		}
		if string(h.ObjectLockMode) != gov.RetentionMode {
			return fail("Object Lock mode", gov.RetentionMode, h.ObjectLockMode)
		}
		// Measured from when the version was written (extendRetention
		// made it so), so a reused version from an earlier attempt passes
		// too; a minute of clock slack.
		want := gov.RetainUntil(aws.ToTime(h.LastModified)).Add(-time.Minute)
		if until := aws.ToTime(h.ObjectLockRetainUntilDate); until.Before(want) {
			return fail("retention until", want, until)
		}
	}
	return nil
}
