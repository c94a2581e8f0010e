package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/pgp"
	"github.com/ferrydata/ferry/internal/rules"
)

// inspectEncrypted is the pass over a PGP upload of a partner Ferry holds
// a key for. The ciphertext is read once: as it streams by it is hashed
// and checked against S3's checksum, and decrypted; the plaintext is
// hashed, checked, scanned and written to its own object, in parallel.
// The plaintext object is committed only once decryption ended with the
// integrity check and the signature verified, so nothing partial or
// unverified is ever published. When decryption fails the file is the
// ciphertext: it is read to its end all the same, so the quarantine copy
// of it is verified and an approval binds its exact bytes.
func (a *Activities) inspectEncrypted(ctx context.Context, in *InspectInput, body io.Reader, up *uploadCheck) (*InspectResult, []rules.Reason, error) {
	f, d := in.File, in.Decrypt
	kr := a.Keyrings[f.Partner]
	if kr == nil {
		// The bridge's config decrypts this partner's files, this
		// worker's does not: a deployment mistake, fixed by configuring
		// the worker, after which the retry succeeds.
		return nil, nil, fmt.Errorf("partner %s's uploads are decrypted, but this worker has no PGP key for it: set partners.%s.decrypt and pgp in the worker's config", f.Partner, f.Partner)
	}
	if err := a.abortStaleUploads(ctx, d.PlaintextBucket, d.PlaintextKey); err != nil {
		return nil, nil, err
	}
	// The ciphertext side, on the reading goroutine: SHA-256, the stored
	// checksum and progress as the decryption pulls the bytes.
	ciphertext := io.TeeReader(body, io.MultiWriter(up.others(up.sha)...))
	opts := pgp.Options{RequireSignature: d.RequireSignature, MaxPlaintextBytes: d.MaxPlaintextBytes, MaxRatio: d.MaxExpansion}

	name := pgp.PlainName(f.Key)
	plain, decErr := pgp.Decrypt(ciphertext, kr, opts)
	var res *InspectResult
	var reasons []rules.Reason
	if decErr == nil {
		var err error
		res, reasons, decErr, err = a.decryptPass(ctx, in, name, plain)
		if err != nil {
			return nil, nil, err
		}
	}
	// Whatever follows the message (or the part of a failed one not
	// read) is part of the upload: its checksums cover every byte.
	if _, err := io.Copy(io.Discard, ciphertext); err != nil {
		return nil, nil, readFailed(f, up.progress.done, up.size, err)
	}
	// The progress heartbeat counted every byte of the upload read.
	read := up.progress.done
	sum := &InspectResult{Size: up.size, SHA256: hex.EncodeToString(up.sha.Sum(nil)), BytesRead: read, ContentType: "application/pgp-encrypted"}
	if err := up.verify(f, read, sum); err != nil {
		return nil, nil, err
	}
	var pe *pgp.Error
	if errors.As(decErr, &pe) {
		// The file stays the ciphertext, judged by the name it was sent
		// under without .pgp (the partner's rules are about that), and by
		// its size. Why it could not be decrypted comes first: it is what
		// the partner must fix, and what the file is counted under.
		reasons := []rules.Reason{decryptionReason(pe)}
		reasons = append(append(reasons, in.Rules.CheckKey(name)...), in.Rules.CheckSize(up.size)...)
		return sum, reasons, nil
	}
	if decErr != nil {
		return nil, nil, decErr
	}
	res.Decryption.CiphertextSize, res.Decryption.CiphertextSHA256 = sum.Size, sum.SHA256
	res.Decryption.CiphertextS3ChecksumAlgorithm, res.Decryption.CiphertextS3Checksum = sum.S3ChecksumAlgorithm, sum.S3Checksum
	return res, reasons, nil
}

// decryptPass reads the plaintext to its end through the checks, the
// scanner and the plaintext object's upload, and commits the object
// once the decryption verified. decErr is a decryption failure (the
// file's fault); err is anything else (retried).
func (a *Activities) decryptPass(ctx context.Context, in *InspectInput, name string, plain *pgp.Reader) (res *InspectResult, reasons []rules.Reason, decErr, err error) {
	f, d := in.File, in.Decrypt
	sc, err := a.startScan(ctx, in.Rules, -1)
	if err != nil {
		return nil, nil, nil, err
	}
	defer sc.abort()
	stage := a.newStageWriter(ctx, d.PlaintextBucket, d.PlaintextKey, map[string]string{
		metaFileID: f.FileID, metaPartner: f.Partner, metaSourceVersion: orETag(f),
	})
	committed := false
	defer func() {
		if !committed {
			stage.Abort()
		}
	}()
	sha := sha256.New()
	content := in.Rules.NewContentCheck(name)
	ws := []io.Writer{sha, content, stage}
	if w := sc.writer(); w != nil {
		ws = append(ws, w)
	}
	n, rerr := teeParallel(plain, readBuffer, readBuffers, ws...)
	var pe *pgp.Error
	if errors.As(rerr, &pe) {
		return nil, nil, rerr, nil
	}
	if rerr != nil {
		return nil, nil, nil, readFailed(f, n, -1, rerr)
	}
	scanFacts, scanReasons, err := sc.finish(in.Rules)
	if err != nil {
		return nil, nil, nil, err
	}
	version, err := stage.Commit()
	if err != nil {
		return nil, nil, nil, err
	}
	committed = true
	r := plain.Result()
	res = &InspectResult{
		Size: n, SHA256: hex.EncodeToString(sha.Sum(nil)), ContentType: http.DetectContentType(content.Head()), BytesRead: n, Scan: scanFacts,
		Decryption: &ingest.DecryptionFacts{
			PlaintextBucket: d.PlaintextBucket, PlaintextKey: d.PlaintextKey, PlaintextVersionID: version,
			RecipientFingerprint: r.RecipientFingerprint, SignatureStatus: r.SignatureStatus, SignerFingerprint: r.SignerFingerprint, SignedAt: r.SignedAt,
		},
	}
	reasons = append(append(in.Rules.CheckKey(name), in.Rules.CheckSize(n)...), content.Reasons()...)
	return res, append(reasons, scanReasons...), nil, nil
}

// decryptionReason says why a PGP upload could not be decrypted, in the
// partner's terms.
func decryptionReason(e *pgp.Error) rules.Reason {
	class := rules.ClassDecryption
	switch e.Kind {
	case pgp.KindNoSignature, pgp.KindBadSignature:
		class = rules.ClassPGPSignature
	}
	return rules.Reason{Class: class, Message: fmt.Sprintf("PGP: %s", e.Message)}
}
