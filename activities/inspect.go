package activities

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
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

	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/pgp"
	"github.com/ferrydata/ferry/internal/rules"
)

// InspectInput is Inspect's input: the object version and the partner's
// rules and decryption policy as they were when the file arrived.
type InspectInput struct {
	File  FileRef
	Rules rules.Rules
	// Decrypt is the partner's PGP policy; nil when Ferry holds no key
	// for the partner.
	Decrypt *ingest.Decryption
	// MaxBytes is set when Inspect runs as a local activity (the
	// small-file fast path), which cannot heartbeat: a larger version, or
	// one to decrypt (its plaintext may be far larger), is not read, and
	// Inspect fails with ErrNotSmall so that the workflow inspects it as
	// a regular activity.
	MaxBytes int64
}

// InspectResult is what one read of the object established. For a PGP
// upload it describes the plaintext (written to Decryption's
// PlaintextBucket/Key), which is what is delivered; Decryption has the
// ciphertext's facts.
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
	// Scan is the malware scan's verdict; empty when the rules do not scan.
	Scan ingest.ScanFacts
	// Decryption is set when the upload was decrypted.
	Decryption *ingest.DecryptionFacts
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

// Read buffers: 1 MiB keeps per-call overhead negligible, four let the
// read run ahead of the slowest consumer.
const (
	readBuffer  = 1 << 20
	readBuffers = 4
)

// readBuffersFor sizes the read's buffers for an object of size bytes:
// one buffer just large enough when it fits in one, else readBuffers of
// readBuffer. A stream of small files would otherwise allocate (and
// clear, and collect) 4 MiB per file: in the small-file profile that was
// a sixth of the worker's CPU. A size that turns out wrong only costs
// more reads of the one buffer.
func readBuffersFor(size int64) (bufSize, nbuf int) {
	if size < 0 || size >= readBuffer {
		return readBuffer, readBuffers
	}
	// One byte more than the object, so the first read already meets
	// its end.
	return max(int(size)+1, 4<<10), 1
}

// Inspect checks the object version against the partner's rules and reads
// it exactly once, computing SHA-256, the checksum S3 stored (to prove the
// bytes read are the bytes stored), the content type, the content checks
// (signature against extension, text encoding) and, when the partner's
// rules scan, the malware scan, all in the same pass. A PGP upload of a
// partner Ferry holds a key for is decrypted in that pass too: the
// plaintext is checked, scanned and written to its own object, which is
// what is delivered. Memory stays flat whatever the size: everything is
// streamed.
func (a *Activities) Inspect(ctx context.Context, in *InspectInput) (*InspectResult, error) {
	defer a.timeStage(ctx, in.File, "inspect")()
	f := in.File
	log := f.logger(ctx)

	// One request: the GET's headers say the size and the checksum S3
	// stored before a byte of the body is read (a HEAD first cost a
	// request per file for nothing the GET does not say).
	obj, err := a.S3.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(f.Bucket), Key: aws.String(f.Key), VersionId: versionPtr(f.VersionID),
		IfMatch: etagCondition(f), ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		return nil, classifyRead(f, err)
	}
	head := headOf(obj)
	if in.MaxBytes > 0 && (aws.ToInt64(head.ContentLength) > in.MaxBytes || in.Decrypt != nil && pgp.EncryptedName(f.Key)) {
		// Closing the body unread drops the connection: cheaper than
		// reading a large object twice.
		obj.Body.Close()
		return nil, notSmall(f, aws.ToInt64(head.ContentLength), in.MaxBytes)
	}
	defer obj.Body.Close()
	// Peeking buffers the first bytes of the one read; it reads nothing twice.
	body := bufio.NewReaderSize(obj.Body, 64<<10)
	first, _ := body.Peek(512) // a read error shows again when the body is read
	// Only the content says a file is encrypted: a .asc may be a plain
	// text or a public key. A partner Ferry decrypts for may also mean it
	// by the name: decryption then says what the file is, if not that.
	encrypted := pgp.Detect(first)
	if in.MaxBytes > 0 && in.Decrypt != nil && encrypted {
		return nil, notSmall(f, aws.ToInt64(head.ContentLength), in.MaxBytes)
	}

	up := newUploadCheck(ctx, head)
	var res *InspectResult
	var reasons []rules.Reason
	if in.Decrypt != nil && (encrypted || pgp.EncryptedName(f.Key)) {
		res, reasons, err = a.inspectEncrypted(ctx, in, body, up)
	} else {
		res, reasons, err = a.inspectPlain(ctx, in, body, up)
		switch {
		case err != nil:
		// Encryption against the partner's policy comes first: it is what
		// the partner must fix, and what the file is counted under.
		case encrypted:
			reasons = append([]rules.Reason{{Class: rules.ClassEncrypted, Message: fmt.Sprintf(
				"file is PGP-encrypted, but Ferry holds no decryption key for partner %s: configure decrypt: pgp for the partner, or the partner must send the file unencrypted", f.Partner)}}, reasons...)
		case in.Decrypt != nil && in.Decrypt.Required:
			reasons = append([]rules.Reason{{Class: rules.ClassEncrypted, Message: fmt.Sprintf(
				"file is not PGP-encrypted, but partner %s must encrypt every file to Ferry's public key: encrypt it and upload it again", f.Partner)}}, reasons...)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(reasons) > 0 {
		log.Warn("file breaks partner rules", "reasons", rules.Messages(reasons), "classes", rules.Classes(reasons), "size", res.Size, "sha256", res.SHA256, "scan", res.Scan.Verdict)
		return nil, violation(reasons, *res)
	}
	log.Info("inspected file", "size", res.Size, "sha256", res.SHA256, "content_type", res.ContentType,
		"s3_checksum_algorithm", res.S3ChecksumAlgorithm, "scan", res.Scan.Verdict, "decrypted", res.Decryption != nil)
	return res, nil
}

// inspectPlain is the pass over an upload that is delivered as it is.
func (a *Activities) inspectPlain(ctx context.Context, in *InspectInput, body io.Reader, up *uploadCheck) (*InspectResult, []rules.Reason, error) {
	f := in.File
	// A file that breaks a rule on its name or size is still read: it
	// may be quarantined and released by a person, whose approval must
	// bind its exact bytes, and the quarantine copy is verified against
	// them.
	reasons := append(in.Rules.CheckKey(f.Key), in.Rules.CheckSize(up.size)...)
	sc, err := a.startScan(ctx, in.Rules, up.size)
	if err != nil {
		return nil, nil, err
	}
	defer sc.abort()
	content := in.Rules.NewContentCheck(f.Key)
	// SHA-256 on one goroutine, the stored checksum, content check and
	// progress on another, the scanner on a third, all fed by the one read.
	ws := []io.Writer{up.sha, io.MultiWriter(up.others(content)...)}
	if w := sc.writer(); w != nil {
		ws = append(ws, w)
	}
	bufSize, nbuf := readBuffersFor(up.size)
	n, err := teeParallel(body, bufSize, nbuf, ws...)
	if err != nil {
		return nil, nil, readFailed(f, n, up.size, err)
	}
	res := &InspectResult{Size: up.size, SHA256: hex.EncodeToString(up.sha.Sum(nil)), ContentType: http.DetectContentType(content.Head()), BytesRead: n}
	if err := up.verify(f, n, res); err != nil {
		return nil, nil, err
	}
	var scanReasons []rules.Reason
	if res.Scan, scanReasons, err = sc.finish(in.Rules); err != nil {
		return nil, nil, err
	}
	reasons = append(append(reasons, content.Reasons()...), scanReasons...)
	return res, reasons, nil
}

// uploadCheck is what the bytes as uploaded are checked with: SHA-256,
// the checksum S3 stored for them, progress heartbeats.
type uploadCheck struct {
	size      int64
	sha       hash.Hash
	alg, want string
	sum       hash.Hash // nil when S3 stored no usable checksum
	progress  *progressWriter
}

// headOf is what a HEAD of the version would have said, from the GET's
// headers: size and stored checksums, for newUploadCheck and
// storedChecksum.
func headOf(g *s3.GetObjectOutput) *s3.HeadObjectOutput {
	return &s3.HeadObjectOutput{
		ContentLength: g.ContentLength, ETag: g.ETag, VersionId: g.VersionId, Metadata: g.Metadata,
		ChecksumType: g.ChecksumType, ChecksumCRC64NVME: g.ChecksumCRC64NVME, ChecksumCRC32C: g.ChecksumCRC32C,
		ChecksumCRC32: g.ChecksumCRC32, ChecksumSHA256: g.ChecksumSHA256, ChecksumSHA1: g.ChecksumSHA1,
	}
}

func newUploadCheck(ctx context.Context, head *s3.HeadObjectOutput) *uploadCheck {
	size := aws.ToInt64(head.ContentLength)
	alg, want, sum := storedChecksum(head)
	return &uploadCheck{size: size, sha: sha256.New(), alg: alg, want: want, sum: sum, progress: &progressWriter{ctx: ctx, total: size}}
}

// others are the writers fed with the upload's bytes besides SHA-256.
func (u *uploadCheck) others(extra ...io.Writer) []io.Writer {
	ws := append(extra, u.progress)
	if u.sum != nil {
		ws = append(ws, u.sum)
	}
	return ws
}

// verify checks that all of the upload was read and that the bytes read
// are the bytes S3 stored, and records the stored checksum in res.
func (u *uploadCheck) verify(f FileRef, n int64, res *InspectResult) error {
	if n != u.size {
		// A short read is a transport problem: retrying reads it again.
		return fmt.Errorf("read %d bytes of s3://%s/%s but S3 reported %d", n, f.Bucket, f.Key, u.size)
	}
	if u.sum == nil {
		return nil
	}
	got := base64.StdEncoding.EncodeToString(u.sum.Sum(nil))
	if got != u.want {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("s3://%s/%s version %s: bytes read have %s %s but S3 stored %s; the stored object or the read is corrupt — ask the partner to upload again",
				f.Bucket, f.Key, f.VersionID, u.alg, got, u.want), ErrChecksumMismatch, nil)
	}
	res.S3ChecksumAlgorithm, res.S3Checksum = u.alg, u.want
	return nil
}

func readFailed(f FileRef, n, size int64, err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return err // the scanner's, which says what happened
	}
	return fmt.Errorf("reading s3://%s/%s (version %s) after %d of %d bytes: %w", f.Bucket, f.Key, f.VersionID, n, size, err)
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

// notSmall is the fast path's refusal of a file it must not read in a
// local activity.
func notSmall(f FileRef, size, maxBytes int64) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("s3://%s/%s is %d bytes (the fast path takes up to %d) or to be decrypted: it is inspected by the regular activity", f.Bucket, f.Key, size, maxBytes),
		ErrNotSmall, nil)
}
