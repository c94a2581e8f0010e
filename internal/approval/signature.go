package approval

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Signature is an approver's SSH signature over a decision's manifest.
type Signature struct {
	Format   string    `json:"format"` // e.g. ssh-ed25519
	Blob     []byte    `json:"blob"`   // base64 in JSON
	SignedAt time.Time `json:"signedAt"`
}

// Meaning is what a signature of each kind declares.
func Meaning(kind string) string {
	if kind == RejectSignal {
		return "rejected, not to be released"
	}
	return "approved for release"
}

// Manifest is what an approver signs: the file (by workflow ID and the
// SHA-256 of its bytes), the decision and its meaning, who, why and when.
// A signature over it cannot be moved to another file or another decision.
func Manifest(workflowID, sha256, kind, approver, reason string, signedAt time.Time) []byte {
	return fmt.Appendf(nil, "ferry-decision-v1\nworkflow:%s\nsha256:%s\ndecision:%s\nmeaning:%s\napprover:%s\nreason:%s\nsigned-at:%s\n",
		workflowID, sha256, kind, Meaning(kind), approver, reason, signedAt.UTC().Format(time.RFC3339))
}

// Sign signs the manifest with an approver's SSH private key (PEM, as in
// ~/.ssh/id_ed25519; unencrypted).
func Sign(privateKeyPEM []byte, manifest []byte, signedAt time.Time) (*Signature, error) {
	signer, err := ssh.ParsePrivateKey(privateKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("reading the SSH private key (an unencrypted OpenSSH key is needed): %w", err)
	}
	sig, err := signer.Sign(rand.Reader, manifest)
	if err != nil {
		return nil, fmt.Errorf("signing the decision: %w", err)
	}
	return &Signature{Format: sig.Format, Blob: sig.Blob, SignedAt: signedAt.UTC().Truncate(time.Second)}, nil
}

// VerifySignature checks sig over manifest with the approver's public key
// (authorized_keys format). It is deterministic, so workflow code may call it.
func VerifySignature(authorizedKey string, manifest []byte, sig *Signature) error {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(authorizedKey)))
	if err != nil {
		return fmt.Errorf("the configured public key cannot be read: %w", err)
	}
	if err := pub.Verify(manifest, &ssh.Signature{Format: sig.Format, Blob: sig.Blob}); err != nil {
		return fmt.Errorf("the signature does not verify with the approver's key: the decision, the file or the key differs")
	}
	return nil
}
