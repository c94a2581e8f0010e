package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/ferrydata/ferry/internal/ingest"
)

const (
	maxCopyObjectBytes = 5 << 30
	minPartBytes       = 5 << 20
	maxParts           = 10_000
)

// withDefaults fills what the options leave zero.
func withDefaults(o ingest.CopyOptions) ingest.CopyOptions {
	if o.MultipartThresholdBytes <= 0 || o.MultipartThresholdBytes > maxCopyObjectBytes {
		o.MultipartThresholdBytes = maxCopyObjectBytes
	}
	if o.PartSizeBytes < minPartBytes {
		o.PartSizeBytes = 256 << 20
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	return o
}

// partSize is the part size for an object of size bytes.
func partSize(o ingest.CopyOptions, size int64) int64 {
	ps := o.PartSizeBytes
	if min := (size + maxParts - 1) / maxParts; ps < min {
		ps = (min + (1 << 20) - 1) / (1 << 20) * (1 << 20)
	}
	return ps
}

// CopyProgress is the heartbeat detail of a copy: for a multipart copy it
// carries the upload ID, so an attempt after a worker crash continues the
// same upload; the parts S3 lists for it are what is skipped.
type CopyProgress struct {
	UploadID   string
	Bucket     string
	Key        string
	PartSize   int64
	PartsDone  int
	PartsTotal int
	BytesDone  int64
	BytesTotal int64
}

// writeOptions are what Ferry sets on an object it writes, whichever API
// writes it.
type writeOptions struct {
	contentType string
	metadata    map[string]string
	tagging     string
	sse         types.ServerSideEncryption
	kmsKeyID    string
	lockMode    types.ObjectLockMode
	retainUntil time.Time
}

func (w writeOptions) copyObject(in *s3.CopyObjectInput) {
	in.MetadataDirective, in.Metadata = types.MetadataDirectiveReplace, w.metadata
	if w.contentType != "" {
		in.ContentType = aws.String(w.contentType)
	}
	if w.tagging != "" {
		in.Tagging, in.TaggingDirective = aws.String(w.tagging), types.TaggingDirectiveReplace
	}
	in.ServerSideEncryption = w.sse
	if w.kmsKeyID != "" {
		in.SSEKMSKeyId = aws.String(w.kmsKeyID)
	}
	if w.lockMode != "" {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = w.lockMode, aws.Time(w.retainUntil)
	}
}

func (w writeOptions) createMultipart(in *s3.CreateMultipartUploadInput) {
	in.Metadata = w.metadata
	if w.contentType != "" {
		in.ContentType = aws.String(w.contentType)
	}
	if w.tagging != "" {
		in.Tagging = aws.String(w.tagging)
	}
	in.ServerSideEncryption = w.sse
	if w.kmsKeyID != "" {
		in.SSEKMSKeyId = aws.String(w.kmsKeyID)
	}
	if w.lockMode != "" {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = w.lockMode, aws.Time(w.retainUntil)
	}
}

// copier runs one copy and keeps its progress for heartbeats.
type copier struct {
	a        *Activities
	f        FileRef
	bucket   string
	key      string
	size     int64
	opts     ingest.CopyOptions
	mu       sync.Mutex
	progress CopyProgress
	// resumed counts parts an earlier attempt had already copied.
	resumed int
	// maxAttempts is the activity's retry limit: its last attempt aborts a
	// multipart upload it cannot finish.
	maxAttempts int32
}

func (c *copier) heartbeat(ctx context.Context) {
	if !activity.IsActivity(ctx) {
		return
	}
	c.mu.Lock()
	p := c.progress
	c.mu.Unlock()
	activity.RecordHeartbeat(ctx, p)
}

// keepAlive heartbeats until stop is closed: a single CopyObject or
// UploadPartCopy of gigabytes gives no other sign of life.
func (c *copier) keepAlive(ctx context.Context) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				c.heartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// multipart copies the source in parts, continuing the upload an earlier
// attempt started when the heartbeat details name one that still exists.
func (c *copier) multipart(ctx context.Context, w writeOptions) (versionID string, err error) {
	f := c.f
	ps := partSize(c.opts, c.size)
	total := int((c.size + ps - 1) / ps)
	c.progress = CopyProgress{Bucket: c.bucket, Key: c.key, PartSize: ps, PartsTotal: total, BytesTotal: c.size}

	// parts[n-1] is part n once copied (by this attempt or the crashed
	// one); each goroutine writes only its own element.
	parts := make([]types.CompletedPart, total)
	var prev CopyProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &prev) == nil &&
		prev.UploadID != "" && prev.Bucket == c.bucket && prev.Key == c.key && prev.PartSize == ps {
		// S3's list of parts, not the (throttled) heartbeat, is the truth
		// about what the crashed attempt finished.
		listed, lerr := c.listParts(ctx, prev.UploadID)
		switch {
		case isNoSuchUpload(lerr):
			f.logger(ctx).Warn("the earlier attempt's multipart upload is gone; starting over", "upload_id", prev.UploadID)
		case lerr != nil:
			return "", lerr
		default:
			c.progress.UploadID = prev.UploadID
			for _, p := range listed {
				n := aws.ToInt32(p.PartNumber)
				if n >= 1 && int(n) <= total && aws.ToInt64(p.Size) == partLen(c.size, ps, int(n)) {
					parts[n-1] = types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag}
					c.progress.BytesDone += aws.ToInt64(p.Size)
					c.resumed++
				}
			}
			c.progress.PartsDone = c.resumed
			f.logger(ctx).Info("resuming multipart copy", "upload_id", prev.UploadID, "parts_done", c.resumed, "parts_total", total)
		}
	}
	if c.progress.UploadID == "" {
		in := &s3.CreateMultipartUploadInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key)}
		w.createMultipart(in)
		out, err := c.a.S3.CreateMultipartUpload(ctx, in)
		if err != nil {
			return "", c.classify(err)
		}
		c.progress.UploadID = aws.ToString(out.UploadId)
	}
	// Heartbeat the upload ID before copying anything, so a crash from here
	// on resumes this upload.
	c.heartbeat(ctx)

	uploadID := c.progress.UploadID
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Concurrency)
	for n := 1; n <= total; n++ {
		if parts[n-1].PartNumber != nil {
			continue
		}
		g.Go(func() error {
			start := int64(n-1) * ps
			end := start + partLen(c.size, ps, n) - 1
			out, err := c.a.S3.UploadPartCopy(gctx, &s3.UploadPartCopyInput{
				Bucket: aws.String(c.bucket), Key: aws.String(c.key), UploadId: aws.String(uploadID),
				PartNumber: aws.Int32(int32(n)), CopySource: aws.String(copySource(f)),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", start, end)), CopySourceIfMatch: etagCondition(f),
			})
			if err != nil {
				return fmt.Errorf("copying part %d of %d: %w", n, total, c.classify(err))
			}
			parts[n-1] = types.CompletedPart{PartNumber: aws.Int32(int32(n)), ETag: out.CopyPartResult.ETag}
			c.mu.Lock()
			c.progress.PartsDone++
			c.progress.BytesDone += end - start + 1
			c.mu.Unlock()
			c.heartbeat(ctx)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	out, err := c.a.S3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(c.bucket), Key: aws.String(c.key), UploadId: aws.String(uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return "", fmt.Errorf("completing multipart copy to s3://%s/%s: %w", c.bucket, c.key, c.classify(err))
	}
	return aws.ToString(out.VersionId), nil
}

// abort gives up the multipart upload, so no orphaned parts are billed. It
// runs on its own context: the activity's may be the one that ended.
func (c *copier) abort(ctx context.Context) {
	c.mu.Lock()
	id := c.progress.UploadID
	c.mu.Unlock()
	if id == "" {
		return
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := c.a.S3.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key), UploadId: aws.String(id)})
	if err != nil && !isNoSuchUpload(err) {
		c.f.logger(ctx).Error("could not abort the multipart upload; a lifecycle rule must clean it up", "upload_id", id, "error", err)
		return
	}
	c.f.logger(ctx).Warn("aborted multipart copy", "upload_id", id)
}

func (c *copier) listParts(ctx context.Context, uploadID string) ([]types.Part, error) {
	var parts []types.Part
	p := s3.NewListPartsPaginator(c.a.S3, &s3.ListPartsInput{Bucket: aws.String(c.bucket), Key: aws.String(c.key), UploadId: aws.String(uploadID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		parts = append(parts, page.Parts...)
	}
	return parts, nil
}

// classify turns S3's answers that no retry changes into non-retryable
// errors that say what happened.
func (c *copier) classify(err error) error {
	f := c.f
	switch {
	case isNotFound(err) || isPreconditionFailed(err):
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("s3://%s/%s version %s vanished (deleted or overwritten) before it could be copied to s3://%s/%s; the partner must upload it again",
				f.Bucket, f.Key, orETag(f), c.bucket, c.key), ErrObjectVanished, err)
	case isBadRequest(err):
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("S3 refused to copy s3://%s/%s to s3://%s/%s as invalid: %v; check the partner's governance against the bucket (retention needs Object Lock, enabled when the bucket is created; SSE-KMS needs an existing key), fix the config, then reset the workflow",
				f.Bucket, f.Key, c.bucket, c.key, err), ErrDestinationRefused, err)
	}
	return fmt.Errorf("copying s3://%s/%s (version %s) to s3://%s/%s: %w", f.Bucket, f.Key, orETag(f), c.bucket, c.key, err)
}

// partLen is the length of part n (1-based).
func partLen(size, ps int64, n int) int64 {
	start := int64(n-1) * ps
	return min(ps, size-start)
}

func isNoSuchUpload(err error) bool {
	var nsu *types.NoSuchUpload
	var api smithy.APIError
	return errors.As(err, &nsu) || (errors.As(err, &api) && api.ErrorCode() == "NoSuchUpload")
}
