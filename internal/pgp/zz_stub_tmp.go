package pgp

import (
	"strings"
	"io"
	"time"
)

type Keyring struct{}

func LoadKeyring(privateKeyFile string, passphrase []byte, signerKeyFiles ...string) (*Keyring, error) {
	return nil, nil
}
func (k *Keyring) RecipientFingerprints() []string { return nil }
func (k *Keyring) SignerFingerprints() []string    { return nil }
func (k *Keyring) HasSigners() bool                { return false }
func Detect(head []byte) bool                      { return false }
func EncryptedName(key string) bool { return strings.HasSuffix(key, ".pgp") }
func PlainName(key string) string    { return strings.TrimSuffix(key, ".pgp") }

type Options struct {
	RequireSignature  bool
	MaxPlaintextBytes int64
	MaxRatio          int64
}

func Decrypt(r io.Reader, k *Keyring, opts Options) (*Reader, error) { return nil, nil }

type Reader struct{}

func (r *Reader) Read(p []byte) (int, error) { return 0, nil }
func (r *Reader) Result() Result             { return Result{} }

type Result struct {
	RecipientFingerprint string
	Signed               bool
	SignatureStatus      string
	SignerFingerprint    string
	SignedAt             time.Time
	FileName             string
	Compressed           bool
}
type Error struct {
	Kind    Kind
	Message string
	Err     error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

type Kind string

const (
	KindNotEncrypted Kind = "not_encrypted"
	KindWrongKey     Kind = "wrong_key"
	KindCorrupt      Kind = "corrupt"
	KindTruncated    Kind = "truncated"
	KindNoSignature  Kind = "missing_signature"
	KindBadSignature Kind = "bad_signature"
	KindTooLarge     Kind = "too_large"
	KindSymmetric    Kind = "symmetric"
)

func GenerateKey(name, email string, passphrase []byte) (privateArmored, publicArmored []byte, err error) {
	return nil, nil, nil
}
