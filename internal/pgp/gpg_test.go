//go:build integration

// Interoperability with the real GnuPG (Debian's gpg 2.2, which
// deploy/local/install.sh installs): a partner follows the README with
// its own gpg-made key, and a Ferry key made with gpg instead of
// GenerateKey loads and decrypts.
package pgp

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gnupg is one person's GnuPG home.
type gnupg struct {
	t    *testing.T
	home string
}

func newGnuPG(t *testing.T) *gnupg {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Fatalf("gpg is not installed (%v): run deploy/local/install.sh, which installs Debian's gpg and gpg-agent", err)
	}
	g := &gnupg{t: t, home: t.TempDir()}
	// gpg starts an agent for the home on first use; it is ours to stop.
	t.Cleanup(func() {
		cmd := exec.Command("gpgconf", "--kill", "gpg-agent")
		cmd.Env = append(os.Environ(), "GNUPGHOME="+g.home)
		_ = cmd.Run()
	})
	return g
}

// run runs gpg as a script would (no terminal: --batch, passphrases given
// with --pinentry-mode loopback) and returns its standard output.
func (g *gnupg) run(args ...string) []byte {
	g.t.Helper()
	out, err := g.try(args...)
	if err != nil {
		g.t.Fatalf("gpg %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func (g *gnupg) try(args ...string) ([]byte, error) {
	cmd := exec.Command("gpg", append([]string{"--homedir", g.home, "--batch", "--yes", "--pinentry-mode", "loopback"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &gpgError{err: err, stderr: stderr.String()}
	}
	return stdout.Bytes(), nil
}

type gpgError struct {
	err    error
	stderr string
}

func (e *gpgError) Error() string { return e.err.Error() + "\n" + e.stderr }

// newKey makes a key with gpg's defaults (RSA 3072 in 2.2) or algo.
func (g *gnupg) newKey(uid, algo, passphrase string) (fingerprint string) {
	g.t.Helper()
	g.run("--passphrase", passphrase, "--quick-gen-key", uid, algo, "default", "never")
	return g.fingerprint(uid)
}

func (g *gnupg) fingerprint(who string) string {
	g.t.Helper()
	return g.fingerprintIn(string(g.run("--with-colons", "--list-keys", who)))
}

func (g *gnupg) file(name string, data []byte) string {
	g.t.Helper()
	p := filepath.Join(g.home, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		g.t.Fatal(err)
	}
	return p
}

// TestAPartnerFollowingTheREADME: the partner's own gpg key (made by gpg),
// Ferry's key from GenerateKey, and the README's commands, binary and
// armored; Ferry decrypts and names the partner's key as the signer.
func TestAPartnerFollowingTheREADME(t *testing.T) {
	ferryPriv, ferryPub, err := GenerateKey("Ferry for acme", "ferry+acme@example.com", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	partner := newGnuPG(t)
	acme := partner.newKey("Acme Labs <acme@example.com>", "default", "")
	pubFile := partner.file("ferry.pub.asc", ferryPub)
	ferry := partner.fingerprintIn(string(partner.run("--with-colons", "--import-options", "show-only", "--import", pubFile)))

	// The README, line by line.
	partner.run("--import", pubFile)
	partner.run("--fingerprint", ferry)
	partner.run("--quick-lsign-key", ferry)
	plain := []byte(strings.Repeat("id,assay,result\n1,glucose,5.4\n", 2000))
	csv := partner.file("labs.csv", plain)
	partner.run("--encrypt", "--sign", "--recipient", ferry, "--local-user", acme, "--output", csv+".pgp", csv)
	partner.run("--armor", "--encrypt", "--sign", "--recipient", ferry, "--local-user", acme, "--output", csv+".asc", csv)
	acmePub := partner.file("acme.pub.asc", partner.run("--export", "--armor", acme))

	k, err := LoadKeyring(partner.file("ferry.key.asc", ferryPriv), []byte("s3cret"), acmePub)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"labs.csv.pgp", "labs.csv.asc"} {
		msg, err := os.ReadFile(filepath.Join(partner.home, name))
		if err != nil {
			t.Fatal(err)
		}
		if !Detect(msg[:min(len(msg), 512)]) {
			t.Errorf("%s: Detect does not take gpg's output for OpenPGP", name)
		}
		r, err := Decrypt(bytes.NewReader(msg), k, Options{RequireSignature: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got bytes.Buffer
		if _, err := got.ReadFrom(r); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		res := r.Result()
		if !bytes.Equal(got.Bytes(), plain) || res.SignatureStatus != "valid" || res.SignerFingerprint != acme || res.FileName != "labs.csv" {
			t.Errorf("%s: %d bytes, %+v; want the CSV, signed by %s", name, got.Len(), res, acme)
		}
	}
}

// fingerprintIn picks the fingerprint out of gpg's --with-colons output.
func (g *gnupg) fingerprintIn(colons string) string {
	for _, line := range strings.Split(colons, "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint in %q", colons)
	return ""
}

// TestAFerryKeyMadeWithGPG: operators may make Ferry's key with gpg (as
// AWS Transfer Family's documentation says) and export it with a
// passphrase; it loads, and decrypts what gpg encrypts to it.
func TestAFerryKeyMadeWithGPG(t *testing.T) {
	ops := newGnuPG(t)
	for _, algo := range []string{"default", "future-default"} { // RSA 3072; Ed25519 with Curve25519
		uid := "Ferry " + algo + " <ferry@example.com>"
		fpr := ops.newKey(uid, algo, "0ps pass")
		priv := ops.file(algo+".key.asc", ops.run("--passphrase", "0ps pass", "--armor", "--export-secret-keys", fpr))
		if _, err := LoadKeyring(priv, []byte("wrong")); err == nil || !strings.Contains(err.Error(), "does not unlock") {
			t.Errorf("%s: the wrong passphrase: %v", algo, err)
		}
		k, err := LoadKeyring(priv, []byte("0ps pass"))
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		csv := ops.file("data.csv", []byte("id,qty\n1,5\n"))
		msg := ops.run("--trust-model", "always", "--recipient", fpr, "--encrypt", "--output", "-", csv)
		r, err := Decrypt(bytes.NewReader(msg), k, Options{})
		if err != nil {
			t.Fatalf("%s: %v", algo, err)
		}
		var got bytes.Buffer
		if _, err := got.ReadFrom(r); err != nil || got.String() != "id,qty\n1,5\n" {
			t.Fatalf("%s: %q, %v", algo, got.String(), err)
		}
	}
}
