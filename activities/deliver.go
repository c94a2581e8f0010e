package activities

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/temporal"
)

// DeliverInput is Deliver's input: the inspected source and its destination.
type DeliverInput struct {
	File       FileRef
	Inspection InspectResult
	DestBucket string
	DestKey    string
}

// DeliverResult names the delivered version.
type DeliverResult struct {
	DestBucket    string
	DestKey       string
	DestVersionID string
	// Reused is true when an earlier attempt had already delivered this
	// file and its version was verified and kept instead of copying again.
	Reused bool
}

// Metadata keys Ferry sets on delivered objects (x-amz-meta-*).
const (
	metaFileID        = "ferry-file-id"
	metaPartner       = "ferry-partner"
	metaSHA256        = "ferry-sha256"
	metaSourceVersion = "ferry-source-version"
)

// Deliver copies the inspected version server-side to the destination (the
// bytes never pass through the worker) and verifies the new version. It is
// idempotent: when the destination's current version was written by an
// earlier attempt for the same file, that version is verified and reused,
// so a retry never leaves a second delivered version.
func (a *Activities) Deliver(ctx context.Context, in *DeliverInput) (*DeliverResult, error) {
	f, insp := in.File, in.Inspection
	log := f.logger(ctx).With("dest_bucket", in.DestBucket, "dest_key", in.DestKey)

	if prev, err := a.S3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(in.DestBucket), Key: aws.String(in.DestKey), ChecksumMode: types.ChecksumModeEnabled,
	}); err == nil && prev.Metadata[metaFileID] == f.FileID {
		if err := verify(in, prev); err != nil {
			return nil, err
		}
		log.Info("file already delivered by an earlier attempt; reusing that version", "dest_version_id", aws.ToString(prev.VersionId))
		return &DeliverResult{DestBucket: in.DestBucket, DestKey: in.DestKey, DestVersionID: aws.ToString(prev.VersionId), Reused: true}, nil
	} else if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("checking destination s3://%s/%s: %w", in.DestBucket, in.DestKey, err)
	}

	out, err := a.S3.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(in.DestBucket),
		Key:               aws.String(in.DestKey),
		CopySource:        aws.String(copySource(f)),
		CopySourceIfMatch: etagCondition(f),
		MetadataDirective: types.MetadataDirectiveReplace,
		ContentType:       aws.String(insp.ContentType),
		Metadata: map[string]string{
			metaFileID:        f.FileID,
			metaPartner:       f.Partner,
			metaSHA256:        insp.SHA256,
			metaSourceVersion: orETag(f),
		},
	})
	if err != nil {
		if isNotFound(err) || isPreconditionFailed(err) {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("s3://%s/%s version %s vanished after inspection (deleted or overwritten): nothing was delivered; the partner must upload it again",
					f.Bucket, f.Key, orETag(f)), ErrObjectVanished, err)
		}
		return nil, fmt.Errorf("copying s3://%s/%s (version %s) to s3://%s/%s: %w", f.Bucket, f.Key, orETag(f), in.DestBucket, in.DestKey, err)
	}
	version := aws.ToString(out.VersionId)
	head, err := a.S3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(in.DestBucket), Key: aws.String(in.DestKey), VersionId: versionPtr(version),
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, fmt.Errorf("reading back delivered s3://%s/%s version %s: %w", in.DestBucket, in.DestKey, version, err)
	}
	if err := verify(in, head); err != nil {
		return nil, err
	}
	log.Info("delivered file", "dest_version_id", version, "size", aws.ToInt64(head.ContentLength))
	return &DeliverResult{DestBucket: in.DestBucket, DestKey: in.DestKey, DestVersionID: version}, nil
}

// verify checks a delivered version against what inspection read: same
// size, same SHA-256 recorded, and the same S3 checksum where both sides
// have one of the same algorithm. A mismatch is never retried into silence.
func verify(in *DeliverInput, h *s3.HeadObjectOutput) error {
	insp := in.Inspection
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
	return nil
}
