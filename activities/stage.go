package activities

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// stagePartSize is the size of the first parts of a staged object.
// Parts grow with the object (stagePart), so memory stays at one part
// while a plaintext of hundreds of GiB still fits in S3's 10,000 parts.
const stagePartSize = 8 << 20

// stagePart is the size of part number n (from 1): 8 MiB for the first
// 2,000 parts, then 16, 32 and from part 6,001 64 MiB — about 360 GiB in
// all. S3 lets parts differ in size as long as all but the last are at
// least 5 MiB.
func stagePart(n int) int {
	switch {
	case n <= 2000:
		return stagePartSize
	case n <= 4000:
		return 2 * stagePartSize
	case n <= 6000:
		return 4 * stagePartSize
	}
	return 8 * stagePartSize
}

// stageWriter writes a stream of unknown length to a new object version,
// holding one part in memory: a single PutObject when the stream fits in
// the first part, a multipart upload otherwise. Nothing is visible until
// Commit, and Abort leaves nothing behind, so a stream that turns out bad
// at its end (a PGP signature that does not verify) is never published.
type stageWriter struct {
	ctx         context.Context
	s3          *s3.Client
	bucket, key string
	metadata    map[string]string
	buf         []byte
	uploadID    string
	parts       []types.CompletedPart
	written     int64
}

func (a *Activities) newStageWriter(ctx context.Context, bucket, key string, metadata map[string]string) *stageWriter {
	return &stageWriter{ctx: ctx, s3: a.S3, bucket: bucket, key: key, metadata: metadata, buf: make([]byte, 0, stagePartSize)}
}

func (w *stageWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		size := stagePart(len(w.parts) + 1)
		take := min(size-len(w.buf), len(p))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		if len(w.buf) == size {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
	}
	return n, nil
}

// flush uploads the buffered part.
func (w *stageWriter) flush() error {
	if len(w.parts) >= 10000 {
		return fmt.Errorf("s3://%s/%s: more than 10,000 parts (about 360 GiB): too large to stage", w.bucket, w.key)
	}
	if w.uploadID == "" {
		out, err := w.s3.CreateMultipartUpload(w.ctx, &s3.CreateMultipartUploadInput{
			Bucket: aws.String(w.bucket), Key: aws.String(w.key), Metadata: w.metadata,
		})
		if err != nil {
			return fmt.Errorf("starting the upload of s3://%s/%s: %w", w.bucket, w.key, err)
		}
		w.uploadID = aws.ToString(out.UploadId)
	}
	num := int32(len(w.parts) + 1)
	out, err := w.s3.UploadPart(w.ctx, &s3.UploadPartInput{
		Bucket: aws.String(w.bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID),
		PartNumber: aws.Int32(num), Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf))),
	})
	if err != nil {
		return fmt.Errorf("uploading part %d of s3://%s/%s: %w", num, w.bucket, w.key, err)
	}
	w.parts = append(w.parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag})
	w.written += int64(len(w.buf))
	w.buf = w.buf[:0]
	if size := stagePart(len(w.parts) + 1); cap(w.buf) < size {
		w.buf = make([]byte, 0, size)
	}
	return nil
}

// Commit makes the object visible and returns its version.
func (w *stageWriter) Commit() (string, error) {
	if w.uploadID == "" {
		out, err := w.s3.PutObject(w.ctx, &s3.PutObjectInput{
			Bucket: aws.String(w.bucket), Key: aws.String(w.key), Metadata: w.metadata,
			Body: bytes.NewReader(w.buf), ContentLength: aws.Int64(int64(len(w.buf))),
		})
		if err != nil {
			return "", fmt.Errorf("writing s3://%s/%s: %w", w.bucket, w.key, err)
		}
		return aws.ToString(out.VersionId), nil
	}
	if len(w.buf) > 0 {
		if err := w.flush(); err != nil {
			return "", err
		}
	}
	out, err := w.s3.CompleteMultipartUpload(w.ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String(w.bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: w.parts},
	})
	if err != nil {
		return "", fmt.Errorf("completing the upload of s3://%s/%s: %w", w.bucket, w.key, err)
	}
	return aws.ToString(out.VersionId), nil
}

// Abort discards what was uploaded; it uses its own context, so a
// cancelled activity still cleans up.
func (w *stageWriter) Abort() {
	if w.uploadID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), 30*time.Second)
	defer cancel()
	_, _ = w.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(w.bucket), Key: aws.String(w.key), UploadId: aws.String(w.uploadID),
	})
	w.uploadID = ""
}

// abortStaleUploads aborts the uploads an earlier attempt left under key
// (a worker killed mid-upload cannot abort its own): the key belongs to
// one file, so every upload under it is that file's.
func (a *Activities) abortStaleUploads(ctx context.Context, bucket, key string) error {
	p := s3.NewListMultipartUploadsPaginator(a.S3, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing unfinished uploads under s3://%s/%s: %w", bucket, key, err)
		}
		for _, u := range page.Uploads {
			if aws.ToString(u.Key) != key {
				continue
			}
			if _, err := a.S3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId}); err != nil && !isNoSuchUpload(err) {
				return fmt.Errorf("aborting an earlier attempt's upload %s of s3://%s/%s: %w", aws.ToString(u.UploadId), bucket, key, err)
			}
		}
	}
	return nil
}

// DiscardPlaintextInput is DiscardPlaintext's input: the plaintext object
// of a decrypted upload.
type DiscardPlaintextInput struct {
	File FileRef
}

// DiscardPlaintext deletes every version of a decrypted upload's
// plaintext once the file's journey is over (its destination and
// quarantine copies are the ones kept). Its key belongs to the one file,
// so versions an earlier attempt left go too.
func (a *Activities) DiscardPlaintext(ctx context.Context, in *DiscardPlaintextInput) error {
	f := in.File
	p := s3.NewListObjectVersionsPaginator(a.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(f.Bucket), Prefix: aws.String(f.Key)})
	deleted := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing the versions of s3://%s/%s: %w", f.Bucket, f.Key, err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) != f.Key {
				continue
			}
			if _, err := a.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(f.Bucket), Key: v.Key, VersionId: v.VersionId}); err != nil && !isNotFound(err) {
				return fmt.Errorf("deleting s3://%s/%s version %s: %w", f.Bucket, f.Key, aws.ToString(v.VersionId), err)
			}
			deleted++
		}
	}
	f.logger(ctx).Info("deleted the decrypted plaintext", "plaintext_bucket", f.Bucket, "plaintext_key", f.Key, "versions", deleted)
	return nil
}
