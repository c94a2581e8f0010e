package activities

import (
	"context"
	"fmt"
	"net/url"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/ingest"
)

// QuarantineInput is Quarantine's input.
type QuarantineInput struct {
	File   FileRef
	Bucket string
	Key    string
	// SHA256 is known when the violation was found while reading.
	SHA256 string
	Size   int64
	Copy   ingest.CopyOptions
	// MaxAttempts is the retry policy's limit (see DeliverInput).
	MaxAttempts int32
}

// QuarantineResult names the quarantined copy.
type QuarantineResult struct {
	Bucket    string
	Key       string
	VersionID string
}

// Quarantine copies a file that broke a rule into the quarantine bucket,
// where people can examine it without it ever reaching the destination. The
// landing object stays as it was. Idempotent like Deliver.
func (a *Activities) Quarantine(ctx context.Context, in *QuarantineInput) (*QuarantineResult, error) {
	defer a.timeStage(ctx, in.File, "quarantine")()
	c := &copier{a: a, f: in.File, bucket: in.Bucket, key: in.Key, size: in.Size, opts: withDefaults(in.Copy), maxAttempts: in.MaxAttempts}
	head, _, err := a.copyVersion(ctx, c, in.SHA256, writeOptions{})
	if err != nil {
		return nil, err
	}
	res := &QuarantineResult{Bucket: in.Bucket, Key: in.Key, VersionID: aws.ToString(head.VersionId)}
	in.File.logger(ctx).Warn("quarantined file", "quarantine_bucket", in.Bucket, "quarantine_key", in.Key, "quarantine_version_id", res.VersionID)
	return res, nil
}

// HandleSourceInput is HandleSource's input.
type HandleSourceInput struct {
	File FileRef
	// Action is governance.Delete or governance.Tag.
	Action        string
	DestVersionID string
}

// HandleSource deletes or tags the landing version after its delivery was
// verified, per the partner's policy. Both are idempotent: deleting a
// version that is already gone succeeds.
func (a *Activities) HandleSource(ctx context.Context, in *HandleSourceInput) error {
	f := in.File
	switch in.Action {
	case governance.Delete:
		// Deleting by version ID removes that version for good; later
		// versions of the same key (new uploads) are untouched.
		_, err := a.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.Bucket), Key: aws.String(f.Key), VersionId: versionPtr(f.VersionID)})
		if err != nil && !isNotFound(err) && !a.versionGone(ctx, f, err) {
			return fmt.Errorf("deleting delivered source s3://%s/%s version %s: %w", f.Bucket, f.Key, orETag(f), err)
		}
	case governance.Tag:
		tags := []types.Tag{
			{Key: aws.String("ferry-status"), Value: aws.String("delivered")},
			{Key: aws.String("ferry-file-id"), Value: aws.String(f.FileID)},
			{Key: aws.String("ferry-delivered-version"), Value: aws.String(url.QueryEscape(in.DestVersionID))},
		}
		_, err := a.S3.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{
			Bucket: aws.String(f.Bucket), Key: aws.String(f.Key), VersionId: versionPtr(f.VersionID), Tagging: &types.Tagging{TagSet: tags},
		})
		if err != nil {
			return fmt.Errorf("tagging delivered source s3://%s/%s version %s: %w", f.Bucket, f.Key, orETag(f), err)
		}
	default:
		return fmt.Errorf("unknown source action %q", in.Action)
	}
	f.logger(ctx).Info("handled source after delivery", "action", in.Action)
	return nil
}

// versionGone reports whether a delete that S3 refused as invalid found the
// version already deleted (a retry after an attempt whose delete went
// through). AWS answers such a delete with success; versitygw answers
// 400 "Invalid version id specified". S3 is asked whether the version is
// still there, so a version that exists is never taken for deleted.
func (a *Activities) versionGone(ctx context.Context, f FileRef, deleteErr error) bool {
	if !isBadRequest(deleteErr) || versionPtr(f.VersionID) == nil {
		return false
	}
	_, err := a.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.Bucket), Key: aws.String(f.Key), VersionId: versionPtr(f.VersionID)})
	return isNotFound(err)
}

// RejectInput names the quarantined copy to move.
type RejectInput struct {
	File             FileRef
	QuarantineBucket string
	QuarantineKey    string
	QuarantineVer    string
	RejectedKey      string
	Size             int64
	SHA256           string
	// MaxAttempts is the retry policy's limit (see DeliverInput).
	MaxAttempts int32
}

// Reject moves a rejected file's quarantined copy under the rejected
// prefix: copy (idempotent, like every copy here), then delete the
// quarantined version. The landing object is left as it is.
func (a *Activities) Reject(ctx context.Context, in *RejectInput) (*QuarantineResult, error) {
	defer a.timeStage(ctx, in.File, "reject")()
	src := FileRef{FileID: in.File.FileID, Partner: in.File.Partner, Bucket: in.QuarantineBucket, Key: in.QuarantineKey, VersionID: in.QuarantineVer}
	c := &copier{a: a, f: src, bucket: in.QuarantineBucket, key: in.RejectedKey, size: in.Size, opts: withDefaults(ingest.CopyOptions{}), maxAttempts: in.MaxAttempts}
	head, _, err := a.copyVersion(ctx, c, in.SHA256, writeOptions{})
	if err != nil {
		return nil, err
	}
	if _, err := a.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(in.QuarantineBucket), Key: aws.String(in.QuarantineKey), VersionId: versionPtr(in.QuarantineVer)}); err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("removing the quarantined copy s3://%s/%s: %w", in.QuarantineBucket, in.QuarantineKey, err)
	}
	in.File.logger(ctx).Warn("rejected file moved", "rejected_bucket", in.QuarantineBucket, "rejected_key", in.RejectedKey)
	return &QuarantineResult{Bucket: in.QuarantineBucket, Key: in.RejectedKey, VersionID: aws.ToString(head.VersionId)}, nil
}
