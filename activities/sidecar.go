package activities

import (
	"context"
	"fmt"
	"io"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/rules"
)

// Sidecar error types.
const (
	// ErrSidecarMissing: the sidecar is not there yet. Retryable: the
	// retry policy is how the workflow waits for it.
	ErrSidecarMissing = "SidecarMissing"
	// ErrSidecarInvalid: the sidecar is there but unusable.
	ErrSidecarInvalid = "SidecarInvalid"
)

// maxSidecarBytes bounds what is read of a sidecar: a sha256sum line is
// under 100 bytes plus the name.
const maxSidecarBytes = 4096

// FetchSidecarInput names the data file whose sidecar is wanted.
type FetchSidecarInput struct {
	File FileRef
}

// FetchSidecarResult is the partner's checksum for the file.
type FetchSidecarResult struct {
	Key       string
	VersionID string
	SHA256    string
}

// FetchSidecar reads <key>.sha256 next to the file. While it is missing it
// fails retryably, so the caller's retry policy is the wait.
func (a *Activities) FetchSidecar(ctx context.Context, in *FetchSidecarInput) (*FetchSidecarResult, error) {
	f := in.File
	key := f.Key + rules.SidecarSuffix
	obj, err := a.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.Bucket), Key: aws.String(key)})
	if isNotFound(err) {
		return nil, temporal.NewApplicationError(fmt.Sprintf("checksum sidecar s3://%s/%s has not arrived yet", f.Bucket, key), ErrSidecarMissing)
	}
	if err != nil {
		return nil, fmt.Errorf("reading checksum sidecar s3://%s/%s: %w", f.Bucket, key, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(io.LimitReader(obj.Body, maxSidecarBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading checksum sidecar s3://%s/%s: %w", f.Bucket, key, err)
	}
	if len(body) > maxSidecarBytes {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("checksum sidecar %s is over %d bytes: it must hold one sha256sum line", key, maxSidecarBytes), ErrSidecarInvalid, nil)
	}
	sum, err := rules.ParseSidecar(body, path.Base(f.Key))
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("checksum sidecar %s: %v", key, err), ErrSidecarInvalid, err)
	}
	f.logger(ctx).Info("read checksum sidecar", "sidecar_key", key, "sidecar_version_id", aws.ToString(obj.VersionId), "partner_sha256", sum)
	return &FetchSidecarResult{Key: key, VersionID: aws.ToString(obj.VersionId), SHA256: sum}, nil
}
