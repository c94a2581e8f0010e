package activities

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/rules"
)

// InspectInput is Inspect's input: the object version and the partner's
// rules as they were when the file arrived.
type InspectInput struct {
	File  FileRef
	Rules rules.Rules
}

// InspectResult is what one read of the object established.
type InspectResult struct {
	Size        int64
	SHA256      string // hex
	ContentType string // sniffed from the first 512 bytes
	// S3ChecksumAlgorithm and S3Checksum are the full-object checksum S3
	// stored for the version (base64, as S3 reports it), verified against
	// the bytes read; empty when S3 stored none.
	S3ChecksumAlgorithm string
	S3Checksum          string
	BytesRead           int64
}

// Violation is the detail of a RuleViolation error.
type Violation struct {
	Reasons []string
	// Classes are the rules.ReasonClasses of Reasons, one each, for
	// counting. Histories written before classes existed lack them.
	Classes []string
	// Result is what the read established: the file is read in full
	// whatever rule it breaks.
	Result InspectResult
}

// Progress is the heartbeat detail of a long read, shown as the pending
// activity's heartbeat details in the Temporal UI.
type Progress struct {
	BytesDone  int64
	BytesTotal int64
}

// heartbeatEvery spaces progress heartbeats; the SDK throttles further.
const heartbeatEvery = 2 * time.Second

// Inspect checks the object version against the partner's rules and reads
// it exactly once, computing SHA-256, the checksum S3 stored (to prove the
// bytes read are the bytes stored), the content type and the content
// checks (signature against extension, text encoding) in the same pass.
// Memory stays flat whatever the size: the body is streamed.
func (a *Activities) Inspect(ctx context.Context, in *InspectInput) (*InspectResult, error) {
	defer a.timeStage(ctx, in.File, "inspect")()
	f := in.File
	log := f.logger(ctx)

	head, err := a.S3.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(f.Bucket), Key: aws.String(f.Key), VersionId: versionPtr(f.VersionID),
		IfMatch: etagCondition(f), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, classifyRead(f, err)
	}
	size := aws.ToInt64(head.ContentLength)

	// A file that breaks a rule on its name or size is still read: it
	// may be quarantined and released by a person, whose approval must
	// bind its exact bytes, and the quarantine copy is verified against
	// them.
	reasons := append(in.Rules.CheckKey(f.Key), in.Rules.CheckSize(size)...)

	alg, want, sum := storedChecksum(head)
	obj, err := a.S3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(f.Bucket), Key: aws.String(f.Key), VersionId: versionPtr(f.VersionID),
		IfMatch: etagCondition(f),
	})
	if err != nil {
		return nil, classifyRead(f, err)
	}
	defer obj.Body.Close()

	sha := sha256.New()
	content := in.Rules.NewContentCheck(f.Key)
	others := []io.Writer{content, &progressWriter{ctx: ctx, total: size}}
	if sum != nil {
		others = append(others, sum)
	}
	// SHA-256 on one goroutine, everything else on another, both fed by
	// the one read: 1 MiB buffers keep per-call overhead negligible.
	n, err := teeParallel(obj.Body, sha, io.MultiWriter(others...), 1<<20, 4)
	if err != nil {
		return nil, fmt.Errorf("reading s3://%s/%s (version %s) after %d of %d bytes: %w", f.Bucket, f.Key, f.VersionID, n, size, err)
	}
	if n != size {
		// A short read is a transport problem: retrying reads it again.
		return nil, fmt.Errorf("read %d bytes of s3://%s/%s but S3 reported %d", n, f.Bucket, f.Key, size)
	}
	res := &InspectResult{
		Size: size, SHA256: hex.EncodeToString(sha.Sum(nil)),
		ContentType: http.DetectContentType(content.Head()), BytesRead: n,
	}
	if sum != nil {
		got := base64.StdEncoding.EncodeToString(sum.Sum(nil))
		if got != want {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("s3://%s/%s version %s: bytes read have %s %s but S3 stored %s; the stored object or the read is corrupt — ask the partner to upload again",
					f.Bucket, f.Key, f.VersionID, alg, got, want), ErrChecksumMismatch, nil)
		}
		res.S3ChecksumAlgorithm, res.S3Checksum = alg, want
	}
	if reasons = append(reasons, content.Reasons()...); len(reasons) > 0 {
		log.Warn("file breaks partner rules", "reasons", rules.Messages(reasons), "classes", rules.Classes(reasons), "size", size, "sha256", res.SHA256)
		return nil, violation(reasons, *res)
	}
	log.Info("inspected file", "size", size, "sha256", res.SHA256, "content_type", res.ContentType, "s3_checksum_algorithm", res.S3ChecksumAlgorithm)
	return res, nil
}

func violation(reasons []rules.Reason, partial InspectResult) error {
	msgs := rules.Messages(reasons)
	return temporal.NewNonRetryableApplicationError(strings.Join(msgs, "; "), ErrRuleViolation, nil,
		Violation{Reasons: msgs, Classes: rules.Classes(reasons), Result: partial})
}

// crc64NVME is the table for S3's CRC64NVME (reflected polynomial
// 0x9a6c9329ac4bc9b5; Go's crc64 applies the init and final inversion).
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

// storedChecksum returns the full-object checksum S3 stored for the
// version and a hash computing the same. Composite checksums of multipart
// uploads ("...-N") are checksums of part checksums and cannot be
// recomputed from one stream, so they are not used.
func storedChecksum(h *s3.HeadObjectOutput) (alg, value string, sum hash.Hash) {
	full := func(v *string) bool {
		return v != nil && *v != "" && !strings.Contains(*v, "-") && h.ChecksumType != types.ChecksumTypeComposite
	}
	switch {
	case full(h.ChecksumCRC64NVME):
		return "CRC64NVME", *h.ChecksumCRC64NVME, crc64.New(crc64NVME)
	case full(h.ChecksumCRC32C):
		return "CRC32C", *h.ChecksumCRC32C, crc32.New(crc32.MakeTable(crc32.Castagnoli))
	case full(h.ChecksumCRC32):
		return "CRC32", *h.ChecksumCRC32, crc32.NewIEEE()
	case full(h.ChecksumSHA256):
		return "SHA256", *h.ChecksumSHA256, sha256.New()
	case full(h.ChecksumSHA1):
		return "SHA1", *h.ChecksumSHA1, sha1.New()
	}
	return "", "", nil
}

// classifyRead turns "the version is gone" into a non-retryable error that
// says so; anything else stays retryable.
func classifyRead(f FileRef, err error) error {
	if isNotFound(err) || isPreconditionFailed(err) {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("s3://%s/%s version %s vanished before inspection (deleted or overwritten): nothing to deliver; the partner must upload it again",
				f.Bucket, f.Key, orETag(f)), ErrObjectVanished, err)
	}
	return fmt.Errorf("reading s3://%s/%s (version %s): %w", f.Bucket, f.Key, orETag(f), err)
}

// progressWriter counts bytes and heartbeats progress.
type progressWriter struct {
	ctx   context.Context
	total int64
	done  int64
	last  time.Time
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if now := time.Now(); now.Sub(p.last) >= heartbeatEvery {
		p.last = now
		if activity.IsActivity(p.ctx) {
			activity.RecordHeartbeat(p.ctx, Progress{BytesDone: p.done, BytesTotal: p.total})
		}
		// A cancelled or timed-out activity stops reading at once.
		if err := p.ctx.Err(); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
