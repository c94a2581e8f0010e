package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ferrydata/ferry/internal/localkeys"
	"golang.org/x/crypto/ssh"
)

// Partners log in to the local stack's SFTP (MinIO's) as they do to AWS
// Transfer Family: with an SSH key, never a password. MinIO accepts a key
// only with an OpenSSH certificate signed by the user CA it is started
// with (--sftp=trusted-user-ca-key) whose principals name the login, so
// the stack keeps, in one folder:
//
//	user_ca, user_ca.pub          the user CA (MinIO trusts user_ca.pub)
//	partners/<name>               each configured partner's private key,
//	partners/<name>.pub           its public key, and
//	partners/<name>-cert.pub      its certificate, for <name> only
//
// `sftp -i partners/<name>` finds the certificate beside the key, as
// OpenSSH does for any identity file.
const (
	caFile      = "user_ca"
	partnersDir = "partners"
)

// Certificates are valid for a year and renewed by the run that finds less
// than a month left: long enough that a developer's stack keeps working
// between `make run`s, short enough that a certificate copied out of the
// stack does not work forever, as none should. The validity starts a few
// minutes back so a client whose clock runs behind is not refused.
const (
	certValidity = 365 * 24 * time.Hour
	certRenewal  = 30 * 24 * time.Hour
	certBackdate = 5 * time.Minute
)

// PartnerKeyPath is where a partner's private key is (its certificate is
// the same path plus "-cert.pub").
func PartnerKeyPath(dir, partner string) string {
	return filepath.Join(dir, partnersDir, partner)
}

// ensureSFTPKeys makes the user CA (once) and, for every partner, a key
// pair (once) and a certificate for that partner's name alone (when there
// is none, or it is not for this key, partner or CA, or it nears its end).
// What is current is left as it is, so runs are idempotent and a key
// handed to a partner stays valid.
func ensureSFTPKeys(dir string, partners []string, now time.Time) error {
	if err := os.MkdirAll(filepath.Join(dir, partnersDir), 0o700); err != nil {
		return fmt.Errorf("making the SFTP keys folder: %w", err)
	}
	ca, err := ensureKey(filepath.Join(dir, caFile), "ferry-local-sftp-user-ca")
	if err != nil {
		return err
	}
	for _, p := range partners {
		key, err := ensureKey(PartnerKeyPath(dir, p), p+"@ferry-local")
		if err != nil {
			return err
		}
		certPath := PartnerKeyPath(dir, p) + "-cert.pub"
		why, err := certStale(certPath, key.PublicKey(), ca.PublicKey(), p, now)
		if err != nil {
			return err
		}
		if why == "" {
			continue
		}
		cert, err := certify(ca, key.PublicKey(), p, now)
		if err != nil {
			return err
		}
		if err := localkeys.WriteFile(certPath, authorizedLine(cert, p+"@ferry-local"), 0o644); err != nil {
			return err
		}
		slog.Info("SFTP key certified", "partner", p, "why", why, "certificate", certPath,
			"valid_until", time.Unix(int64(cert.ValidBefore), 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// ensureKey reads the ed25519 private key at path, or generates and keeps
// one, and (re)writes its public half beside it (path.pub).
func ensureKey(path, comment string) (ssh.Signer, error) {
	pemBytes, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, comment)
		if err != nil {
			return nil, fmt.Errorf("encoding the new key %s: %w", path, err)
		}
		pemBytes = pem.EncodeToMemory(block)
		// 0600: OpenSSH refuses a private key others can read.
		if err := localkeys.WriteFile(path, pemBytes, 0o600); err != nil {
			return nil, err
		}
		slog.Info("SFTP key generated", "key", path)
	case err != nil:
		return nil, fmt.Errorf("reading SSH key %s: %w", path, err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("SSH key %s cannot be read (%w): delete it and run `make run` again to generate a new one", path, err)
	}
	pub := authorizedLine(signer.PublicKey(), comment)
	if old, err := os.ReadFile(path + ".pub"); err != nil || !bytes.Equal(old, pub) {
		if err := localkeys.WriteFile(path+".pub", pub, 0o644); err != nil {
			return nil, err
		}
	}
	return signer, nil
}

// certStale says why the certificate at path must be (re)issued, or ""
// when it is current: for key, signed by ca, for the partner alone, and
// valid for more than certRenewal from now.
func certStale(path string, key, ca ssh.PublicKey, partner string, now time.Time) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "none yet", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading SSH certificate %s: %w", path, err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	cert, ok := pub.(*ssh.Certificate)
	switch {
	case err != nil || !ok:
		return "unreadable", nil
	case !bytes.Equal(cert.Key.Marshal(), key.Marshal()):
		return "for another key", nil
	case !bytes.Equal(cert.SignatureKey.Marshal(), ca.Marshal()):
		return "signed by another CA", nil
	case cert.CertType != ssh.UserCert || !slices.Equal(cert.ValidPrincipals, []string{partner}):
		return "not for this partner alone", nil
	case time.Unix(int64(cert.ValidBefore), 0).Sub(now) < certRenewal:
		return "expires within " + certRenewal.String(), nil
	}
	return "", nil
}

// certify signs a user certificate for key, valid only for logging in as
// partner (its one principal), as `ssh-keygen -s user_ca -I partner -n
// partner` would. No critical options (MinIO refuses those it does not
// know) and no extensions: an SFTP login needs no pty or forwarding.
func certify(ca ssh.Signer, key ssh.PublicKey, partner string, now time.Time) (*ssh.Certificate, error) {
	var serial [8]byte
	if _, err := rand.Read(serial[:]); err != nil {
		return nil, err
	}
	cert := &ssh.Certificate{
		Key:             key,
		Serial:          binary.BigEndian.Uint64(serial[:]),
		CertType:        ssh.UserCert,
		KeyId:           partner,
		ValidPrincipals: []string{partner},
		ValidAfter:      uint64(now.Add(-certBackdate).Unix()),
		ValidBefore:     uint64(now.Add(certValidity).Unix()),
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		return nil, fmt.Errorf("certifying %s's SFTP key: %w", partner, err)
	}
	return cert, nil
}

// authorizedLine is a public key or certificate as OpenSSH writes it in a
// .pub file: type, base64, comment.
func authorizedLine(pub ssh.PublicKey, comment string) []byte {
	line := bytes.TrimSuffix(ssh.MarshalAuthorizedKey(pub), []byte("\n"))
	return append(append(line, ' '), comment+"\n"...)
}
