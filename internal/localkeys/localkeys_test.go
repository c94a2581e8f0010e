package localkeys

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/pgp"
)

func TestPGPKeysAreMadeOnceAndLoadAsTheWorkerLoadsThem(t *testing.T) {
	dir := t.TempDir()
	p := config.PGP{
		PrivateKeyFile: filepath.Join(dir, "acme", "ferry.key.asc"),
		PassphraseFile: filepath.Join(dir, "acme", "passphrase"),
		SignerKeyFiles: []string{filepath.Join(dir, "acme", "partner.pub.asc")},
	}
	cfg := &config.Config{Partners: map[string]config.Partner{
		"acme":   {Decrypt: config.DecryptPGP, PGP: p},
		"globex": {},
	}}
	if err := EnsurePGP(cfg); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(p.PrivateKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{p.PrivateKeyFile, p.PassphraseFile, pgp.PublicKeyFile(p.PrivateKeyFile), pgp.PrivateKeyFile(p.SignerKeyFiles[0])} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want a file only its owner reads", f, err, st)
		}
	}
	pass, err := p.Passphrase()
	if err != nil {
		t.Fatal(err)
	}
	k, err := pgp.LoadKeyring(p.PrivateKeyFile, pass, p.SignerKeyFiles...)
	if err != nil {
		t.Fatalf("the worker could not load what the provisioner made: %v", err)
	}
	if len(k.RecipientFingerprints()) != 1 || !k.HasSigners() {
		t.Fatalf("keyring %v / %v", k.RecipientFingerprints(), k.SignerFingerprints())
	}

	// Again: nothing is replaced, or partners would have to fetch a new key.
	if err := EnsurePGP(cfg); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(p.PrivateKeyFile); !bytes.Equal(again, first) {
		t.Fatal("a second run replaced Ferry's key")
	}
}
