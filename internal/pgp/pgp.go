// Package pgp decrypts and verifies the OpenPGP messages partners upload,
// streaming: a file of any size passes through in constant memory, and
// nothing read from it may be trusted before the Reader returned io.EOF,
// which it does only once the message's integrity check and its signature
// verified. It wraps github.com/ProtonMail/go-crypto/openpgp (v1 API: the
// maintained fork of x/crypto/openpgp that GopenPGP builds on) and turns
// its errors into kinds a partner can act on.
package pgp

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Keyring is what Ferry decrypts with for one partner: Ferry's own private
// key (the partner encrypts to its public part) and the partner's public
// signing keys.
type Keyring struct {
	recipients openpgp.EntityList // Ferry's keys usable for encryption today
	signers    openpgp.EntityList
	all        openpgp.EntityList // every private key, and the signers
}

// LoadKeyring reads an armored or binary private key file, unlocks it
// with passphrase (nil or empty for an unprotected key), and reads each
// signer's public key file. Errors name the file and say what to do.
//
// The file may hold several keys, as during a rotation: at least one must
// be usable for encryption today, and an expired or revoked one is kept
// to decrypt what was encrypted to it before.
func LoadKeyring(privateKeyFile string, passphrase []byte, signerKeyFiles ...string) (*Keyring, error) {
	priv, err := readKeys(privateKeyFile)
	if err != nil {
		return nil, err
	}
	k := &Keyring{}
	now := time.Now()
	var unusable []string
	for _, e := range priv {
		if e.PrivateKey == nil {
			return nil, fmt.Errorf("%s holds a public key (%X) only: give Ferry's private key, whose public part partners encrypt to", privateKeyFile, e.PrimaryKey.Fingerprint)
		}
		if locked(e) {
			if len(passphrase) == 0 {
				return nil, fmt.Errorf("%s: the private key %X is protected by a passphrase: set passphrase_file or passphrase_env", privateKeyFile, e.PrimaryKey.Fingerprint)
			}
			if err := e.DecryptPrivateKeys(passphrase); err != nil {
				return nil, fmt.Errorf("%s: the passphrase does not unlock the private key %X: check passphrase_file or passphrase_env", privateKeyFile, e.PrimaryKey.Fingerprint)
			}
		}
		k.all = append(k.all, e)
		if _, ok := e.EncryptionKey(now); !ok {
			unusable = append(unusable, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
			continue
		}
		k.recipients = append(k.recipients, e)
	}
	if len(k.recipients) == 0 {
		return nil, fmt.Errorf("%s: the key %s has no key usable for encryption (expired, revoked, or none with that capability): make a new key or extend its expiry", privateKeyFile, strings.Join(unusable, ", "))
	}
	for _, f := range signerKeyFiles {
		pub, err := readKeys(f)
		if err != nil {
			return nil, err
		}
		for _, e := range pub {
			// Dates are not judged here: a key that expires (or is revoked)
			// must not stop a worker that restarts afterwards for every
			// partner. A file it signed is refused as bad_signature, saying
			// the key expired or was revoked.
			if !canSign(e) {
				return nil, fmt.Errorf("%s: the key %X cannot sign (no key with signing capability, or only DSA or RSA under 2048 bits): ask the partner for its signing key", f, e.PrimaryKey.Fingerprint)
			}
			// Only its public part matters; a private part given by
			// mistake is not kept.
			e.PrivateKey = nil
			for i := range e.Subkeys {
				e.Subkeys[i].PrivateKey = nil
			}
			k.signers = append(k.signers, e)
		}
	}
	k.all = append(k.all, k.signers...)
	return k, nil
}

// canSign reports whether e has a (sub)key flagged for signing with an
// algorithm the library verifies by default, whatever its dates.
func canSign(e *openpgp.Entity) bool {
	var defaults *packet.Config // what Decrypt verifies with
	ok := func(pub *packet.PublicKey, sig *packet.Signature) bool {
		if sig == nil || !sig.FlagsValid || !sig.FlagSign || !pub.PubKeyAlgo.CanSign() || defaults.RejectPublicKeyAlgorithm(pub.PubKeyAlgo) {
			return false
		}
		bits, err := pub.BitLength()
		rsa := pub.PubKeyAlgo == packet.PubKeyAlgoRSA || pub.PubKeyAlgo == packet.PubKeyAlgoRSASignOnly
		return !rsa || err == nil && bits >= defaults.MinimumRSABits()
	}
	if sig, _ := e.PrimarySelfSignature(); ok(e.PrimaryKey, sig) {
		return true
	}
	for _, s := range e.Subkeys {
		if ok(s.PublicKey, s.Sig) {
			return true
		}
	}
	return false
}

func locked(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && e.PrivateKey.Encrypted {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && s.PrivateKey.Encrypted {
			return true
		}
	}
	return false
}

func readKeys(file string) (openpgp.EntityList, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the PGP key file: %w", err)
	}
	var el openpgp.EntityList
	if bytes.Contains(b[:min(len(b), 1024)], []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(b))
	}
	if err != nil || len(el) == 0 {
		return nil, fmt.Errorf("%s is not an OpenPGP key (armored or binary): export it with gpg --export --armor (public) or gpg --export-secret-keys --armor (private): %v", file, err)
	}
	return el, nil
}

// RecipientFingerprints are the fingerprints (upper-case hex) of the keys
// partners encrypt to.
func (k *Keyring) RecipientFingerprints() []string { return fingerprints(k.recipients) }

// SignerFingerprints are the fingerprints of the partner's signing keys.
func (k *Keyring) SignerFingerprints() []string { return fingerprints(k.signers) }

// HasSigners reports whether the keyring holds signing keys.
func (k *Keyring) HasSigners() bool { return len(k.signers) > 0 }

func fingerprints(el openpgp.EntityList) []string {
	var fps []string
	for _, e := range el {
		fps = append(fps, fmt.Sprintf("%X", e.PrimaryKey.Fingerprint))
	}
	return fps
}

// EncryptedName reports whether key names an encrypted file: its
// extension is .pgp, .gpg or .asc.
func EncryptedName(key string) bool {
	switch strings.ToLower(path.Ext(key)) {
	case ".pgp", ".gpg", ".asc":
		return true
	}
	return false
}

// PlainName is key without its .pgp, .gpg or .asc ("data.csv.pgp" →
// "data.csv"); a name that would be left empty is returned unchanged.
func PlainName(key string) string {
	if !EncryptedName(key) {
		return key
	}
	plain := strings.TrimSuffix(key, path.Ext(key))
	if plain == "" || strings.HasSuffix(plain, "/") {
		return key
	}
	return plain
}

// Detect reports whether head, the first bytes of a file (512 are
// plenty; 64 do), starts an encrypted OpenPGP message: ASCII armor
// "-----BEGIN PGP MESSAGE-----", or a first packet (after an optional
// marker packet) that the library's packet parser reads as a public-key
// encrypted session key for an encryption algorithm, or as a passphrase
// encrypted session key (version, cipher and S2K checked by the parser).
// So an arbitrary binary file that starts with a byte that could begin
// such a packet (0x84, 0x85, 0x8C, 0xC1, 0xC3) is not taken for one.
func Detect(head []byte) bool {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP MESSAGE-----")) {
		return true
	}
	r := io.MultiReader(bytes.NewReader(head), bytes.NewReader(detectPadding))
	p, err := packet.Read(r)
	if _, marker := p.(*packet.Marker); marker && err == nil {
		p, err = packet.Read(r)
	}
	if err != nil {
		return false
	}
	switch p := p.(type) {
	case *packet.EncryptedKey:
		// The parser takes any algorithm octet, leaving it to decryption.
		return p.Algo.CanEncrypt()
	case *packet.SymmetricKeyEncrypted:
		return true
	}
	return false
}

// detectPadding completes a first packet longer than head (an RSA session
// key when head is short), so that the parser judges the fields head
// holds (version, key ID and algorithm are in the first dozen bytes)
// rather than failing because head ends. Zeros are never a valid version
// or cipher, and a packet whose own length ends inside head never reaches
// them.
var detectPadding = make([]byte, 4096)
