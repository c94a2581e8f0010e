// Package localkeys makes the key files a local stack (deploy/local) and
// the tests' own services need and that a real deployment brings itself:
// they are generated once, where the config names them, and never
// replaced.
package localkeys

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/pgp"
)

// EnsurePGP makes, for every partner with decrypt: pgp, the key files
// its config names that do not exist yet: the passphrase, Ferry's key
// pair (protected by it; the public part beside it, pgp.PublicKeyFile)
// and a stand-in for each of the partner's signing keys (its private part
// beside the public one, pgp.PrivateKeyFile), which tests and the
// README's example sign with as the partner would. Existing files are kept, so keys survive restarts; a real
// deployment puts its own keys there and nothing is generated.
func EnsurePGP(cfg *config.Config) error {
	for _, name := range cfg.PartnerNames() {
		p := cfg.Partners[name]
		if p.Decrypt != config.DecryptPGP {
			continue
		}
		g := p.PGP
		if g.PassphraseFile != "" && missing(g.PassphraseFile) {
			b := make([]byte, 24)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			if err := writeNew(g.PassphraseFile, []byte(base64.RawURLEncoding.EncodeToString(b)+"\n")); err != nil {
				return err
			}
		}
		if missing(g.PrivateKeyFile) {
			pass, err := g.Passphrase()
			if err != nil {
				return fmt.Errorf("partners.%s.pgp: %w", name, err)
			}
			priv, pub, err := pgp.GenerateKey("Ferry for partner "+name, "ferry+"+name+"@ferry.localhost", pass)
			if err != nil {
				return fmt.Errorf("partners.%s.pgp: making Ferry's key: %w", name, err)
			}
			if err := writeNew(pgp.PublicKeyFile(g.PrivateKeyFile), pub); err != nil {
				return err
			}
			if err := writeNew(g.PrivateKeyFile, priv); err != nil {
				return err
			}
			slog.Info("made Ferry's PGP key for a partner", "partner", name, "public_key", pgp.PublicKeyFile(g.PrivateKeyFile))
		}
		for _, signer := range g.SignerKeyFiles {
			if !missing(signer) {
				continue
			}
			priv, pub, err := pgp.GenerateKey(name+" local stand-in signing key", name+"@partners.localhost", nil)
			if err != nil {
				return fmt.Errorf("partners.%s.pgp: making a stand-in signing key: %w", name, err)
			}
			if err := writeNew(pgp.PrivateKeyFile(signer), priv); err != nil {
				return err
			}
			if err := writeNew(signer, pub); err != nil {
				return err
			}
			slog.Info("made a stand-in PGP signing key for a partner", "partner", name, "private_key", pgp.PrivateKeyFile(signer))
		}
	}
	return nil
}

func missing(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}

// writeNew writes a secret file readable by its owner only.
func writeNew(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("making %s: %w", filepath.Dir(path), err)
	}
	return WriteFile(path, b, 0o600)
}

// WriteFile writes a file atomically (a temporary file renamed over it),
// so a reader never sees half a key.
func WriteFile(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
