package pgp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Kind is a stable class of decryption failure.
type Kind string

// The kinds of failure; each Error's Message says it to the partner.
const (
	KindNotEncrypted Kind = "not_encrypted"     // not an encrypted OpenPGP message
	KindWrongKey     Kind = "wrong_key"         // encrypted to keys Ferry does not hold
	KindCorrupt      Kind = "corrupt"           // malformed, or the integrity check failed
	KindTruncated    Kind = "truncated"         // ends before the message does
	KindNoSignature  Kind = "missing_signature" // unsigned, and a signature is required
	KindBadSignature Kind = "bad_signature"     // the signature does not verify, or is not the partner's
	KindTooLarge     Kind = "too_large"         // more plaintext than Options allow
	KindSymmetric    Kind = "symmetric"         // encrypted with a password, not to a key
)

// Error is every decryption failure.
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

func fail(kind Kind, err error, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...), Err: err}
}

// Options bound and judge a decryption.
type Options struct {
	// RequireSignature makes a missing signature, one that does not
	// verify, or one by a key not among the keyring's signers an error.
	RequireSignature bool
	// MaxPlaintextBytes, when positive, bounds the plaintext.
	MaxPlaintextBytes int64
	// MaxRatio, when positive, bounds the plaintext to MaxRatio times the
	// ciphertext read so far, plus 1 MiB: a decompression bomb is stopped
	// after little output.
	MaxRatio int64
}

// Result is what a completed decryption established.
type Result struct {
	RecipientFingerprint string // Ferry's key that decrypted it
	Signed               bool
	// SignatureStatus is "valid", "none" (unsigned) or "unknown-signer"
	// (signed by a key not in the keyring; only without RequireSignature).
	SignatureStatus   string
	SignerFingerprint string // the valid signer's primary key
	SignedAt          time.Time
	FileName          string // the literal data's file name, if any
}

// Reader yields a message's plaintext. Its contract: bytes read are not
// trustworthy until Read returned io.EOF, which it returns only after the
// integrity check (MDC or AEAD) passed and the signature, if any or if
// required, verified. A caller that writes the plaintext somewhere must
// publish it only after io.EOF, and discard it on any error (an *Error
// when the message is at fault; see Decrypt).
type Reader struct {
	md     *openpgp.MessageDetails
	keys   *Keyring
	opts   Options
	src    *source
	frame  *framer
	out    int64
	result Result
	err    error
}

// source counts the ciphertext read, notes when it ended, and keeps its
// first error: a failure to read (the network, a cancelled context) is
// not the file's fault, and the library reports it, inside encrypted
// data, as the same "parsing error" as damage.
type source struct {
	r     io.Reader
	n     int64
	ended bool
	err   error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.n += int64(n)
	switch {
	case err == io.EOF:
		s.ended = true
	case err != nil && s.err == nil:
		s.err = err
	}
	return n, err
}

// recorder keeps the first bytes of the message, to name the keys it was
// encrypted to when none of them is Ferry's.
type recorder struct {
	r   io.Reader
	buf bytes.Buffer
}

func (c *recorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if room := 64<<10 - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(n, room)])
	}
	return n, err
}

var errSymmetric = errors.New("encrypted with a passphrase")

// Decrypt starts decrypting r, armored or binary; nothing is buffered
// whole. Every failure caused by the message, now or from the Reader, is
// an *Error. A failure to read r itself is returned wrapped and is not
// an *Error: it says nothing about the file, and reading again may work.
func Decrypt(r io.Reader, k *Keyring, opts Options) (*Reader, error) {
	src := &source{r: r}
	br := bufio.NewReaderSize(src, 64<<10)
	head, _ := br.Peek(512)
	if src.err != nil {
		return nil, readFailed(src)
	}
	if !Detect(head) {
		return nil, fail(KindNotEncrypted, nil, "the file is not an encrypted OpenPGP message: encrypt it to Ferry's public key (gpg --encrypt --recipient <Ferry's key>)")
	}
	var in io.Reader = br
	if trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n"); bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		block, err := armor.Decode(br)
		if src.err != nil {
			return nil, readFailed(src)
		}
		if err != nil {
			return nil, fail(KindCorrupt, err, "the file is corrupt: its ASCII armor is broken (%v); upload it again", err)
		}
		in = block.Body
	}
	fr := &framer{r: in}
	rec := &recorder{r: fr}
	prompt := func(keys []openpgp.Key, symmetric bool) ([]byte, error) {
		if symmetric {
			return nil, errSymmetric
		}
		return nil, pgperrors.ErrKeyIncorrect
	}
	md, err := openpgp.ReadMessage(rec, k.all, prompt, &packet.Config{})
	switch {
	case errors.Is(err, errSymmetric):
		return nil, fail(KindSymmetric, err, "the file is encrypted with a password, which Ferry does not take: encrypt it to Ferry's public key %s instead", strings.Join(k.RecipientFingerprints(), ", "))
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		return nil, fail(KindWrongKey, err, "the file is encrypted to key ID %s, not to Ferry's key for this partner: encrypt it to %s",
			keyIDs(rec.buf.Bytes()), strings.Join(k.RecipientFingerprints(), ", "))
	case err != nil:
		return nil, classify(err, fr, src, "it cannot be read as an encrypted message")
	case !md.IsEncrypted:
		return nil, fail(KindNotEncrypted, nil, "the file is signed but not encrypted: encrypt it to Ferry's public key %s", strings.Join(k.RecipientFingerprints(), ", "))
	}
	d := &Reader{md: md, keys: k, opts: opts, src: src, frame: fr}
	if md.DecryptedWith.Entity != nil {
		d.result.RecipientFingerprint = fmt.Sprintf("%X", md.DecryptedWith.Entity.PrimaryKey.Fingerprint)
	}
	if md.LiteralData != nil {
		d.result.FileName = md.LiteralData.FileName
	}
	return d, nil
}

func readFailed(src *source) error {
	return fmt.Errorf("reading the file failed after %d bytes: %w", src.n, src.err)
}

// keyIDs lists the recipients' key IDs of the session key packets at the
// start of a message.
func keyIDs(b []byte) string {
	var ids []string
	pr := packet.NewReader(bytes.NewReader(b))
	for {
		p, err := pr.Next()
		if err != nil {
			break
		}
		ek, ok := p.(*packet.EncryptedKey)
		if !ok {
			break
		}
		if ek.KeyId == 0 {
			ids = append(ids, "(hidden)")
		} else {
			ids = append(ids, fmt.Sprintf("%016X", ek.KeyId))
		}
	}
	if len(ids) == 0 {
		return "(none readable)"
	}
	return strings.Join(ids, ", ")
}

// classify tells a failure to read the file from a fault of the file,
// and a truncated message (the file ended inside one of its packets)
// from a corrupt one.
func classify(err error, fr *framer, src *source, what string) error {
	switch {
	case src.err != nil:
		return readFailed(src)
	case err == io.EOF: // the packets ended before the encrypted data began
		return fail(KindTruncated, err, "the file ends before the encrypted message does (after %d bytes): it was cut off in transit; upload it again", src.n)
	case fr.truncated():
		return fail(KindTruncated, err, "the file ends before the encrypted message does (after %d bytes): it was cut off in transit; upload it again", src.n)
	}
	return fail(KindCorrupt, err, "the file is corrupt: %s (%v); upload it again", what, err)
}

// Read implements io.Reader under Reader's contract.
func (d *Reader) Read(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	n, err := d.md.UnverifiedBody.Read(p)
	d.out += int64(n)
	if max := d.opts.MaxPlaintextBytes; max > 0 && d.out > max {
		d.err = fail(KindTooLarge, nil, "the file decrypts to more than %d bytes, this partner's limit: split it, or ask the operators to raise pgp.max_plaintext_bytes", max)
		return n, d.err
	}
	if r := d.opts.MaxRatio; r > 0 && d.out > r*d.src.n+1<<20 {
		d.err = fail(KindTooLarge, nil, "the file decrypts to more than %d times its %d encrypted bytes read so far: a decompression bomb, or data that compresses unusually well; send it uncompressed or raise pgp.max_expansion", r, d.src.n)
		return n, d.err
	}
	switch {
	case err == io.EOF:
		if d.err = d.verify(); d.err != nil {
			return n, d.err
		}
		d.err = io.EOF
		return n, io.EOF
	case err != nil:
		d.err = classify(err, d.frame, d.src, "it failed its integrity check or cannot be parsed: it was altered or damaged after encryption")
		return n, d.err
	}
	return n, nil
}

// verify judges the signature once the whole message was read.
func (d *Reader) verify() error {
	md := d.md
	var se pgperrors.SignatureError
	switch {
	case !md.IsSigned:
		d.result.SignatureStatus = "none"
		if d.opts.RequireSignature {
			return fail(KindNoSignature, nil, "the file is not signed, and this partner's files must be: sign it with your key when encrypting (gpg --encrypt --sign)")
		}
		return nil
	case errors.As(md.SignatureError, &se) && (errors.Is(md.SignatureError, pgperrors.ErrMDCHashMismatch) || errors.Is(md.SignatureError, pgperrors.ErrMDCMissing)):
		return fail(KindCorrupt, md.SignatureError, "the file failed its integrity check: it was altered or damaged after encryption; upload it again")
	case md.SignedBy == nil || !d.isSigner(md.SignedBy):
		d.result.Signed, d.result.SignatureStatus = true, "unknown-signer"
		if d.opts.RequireSignature {
			return fail(KindBadSignature, md.SignatureError, "the file is signed by key ID %016X, which is not one of this partner's signing keys (%s): sign with your registered key, or send your new public key to the operators",
				md.SignedByKeyId, strings.Join(d.keys.SignerFingerprints(), ", "))
		}
		return nil
	case errors.Is(md.SignatureError, pgperrors.ErrKeyExpired):
		return fail(KindBadSignature, md.SignatureError, "the file is signed with key %X, which has expired: extend or renew it and send its public key to the operators", md.SignedBy.Entity.PrimaryKey.Fingerprint)
	case errors.Is(md.SignatureError, pgperrors.ErrKeyRevoked):
		return fail(KindBadSignature, md.SignatureError, "the file is signed with key %X, which is revoked: sign with a valid key and send its public key to the operators", md.SignedBy.Entity.PrimaryKey.Fingerprint)
	case md.SignatureError != nil || md.Signature == nil:
		return fail(KindBadSignature, md.SignatureError, "the signature does not verify (%v): the file was altered after signing, or signed wrongly; sign and upload it again", md.SignatureError)
	}
	d.result.Signed, d.result.SignatureStatus = true, "valid"
	d.result.SignerFingerprint = fmt.Sprintf("%X", md.SignedBy.Entity.PrimaryKey.Fingerprint)
	d.result.SignedAt = md.Signature.CreationTime
	return nil
}

func (d *Reader) isSigner(k *openpgp.Key) bool {
	for _, e := range d.keys.signers {
		if k.Entity != nil && bytes.Equal(e.PrimaryKey.Fingerprint, k.Entity.PrimaryKey.Fingerprint) {
			return true
		}
	}
	return false
}

// Result is valid after Read returned io.EOF.
func (d *Reader) Result() Result { return d.result }

// GenerateKey makes a key pair for name (no parentheses or angle brackets)
// and email: Ed25519 for signing
// with a Curve25519 (ECDH) encryption subkey, which GnuPG 2.2 and later,
// AWS Transfer Family and other OpenPGP tools take. The private key is
// armored and protected by passphrase unless it is empty.
func GenerateKey(name, email string, passphrase []byte) (privateArmored, publicArmored []byte, err error) {
	// ZLIB among the key's preferences, so tools that honour them may
	// compress what they encrypt to it.
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, DefaultCompressionAlgo: packet.CompressionZLIB})
	if err != nil {
		return nil, nil, fmt.Errorf("generating a PGP key for %s: %w", email, err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := e.Serialize(w); err != nil {
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	if len(passphrase) > 0 {
		if err := e.EncryptPrivateKeys(passphrase, nil); err != nil {
			return nil, nil, fmt.Errorf("protecting the PGP key with its passphrase: %w", err)
		}
	}
	var priv bytes.Buffer
	if w, err = armor.Encode(&priv, openpgp.PrivateKeyType, nil); err != nil {
		return nil, nil, err
	}
	if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
		return nil, nil, err
	}
	if err := w.Close(); err != nil {
		return nil, nil, err
	}
	return priv.Bytes(), pub.Bytes(), nil
}
