package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// keys is what a run left in the folder: each partner's key and
// certificate, and the CA's public key MinIO is given.
type keys struct {
	ca    ssh.PublicKey
	key   map[string]ssh.PublicKey // from the private key file
	cert  map[string]*ssh.Certificate
	files map[string]string // every file's content, to see what a run changed
}

func ensure(t *testing.T, dir string, now time.Time, partners ...string) keys {
	t.Helper()
	if err := ensureSFTPKeys(dir, partners, now); err != nil {
		t.Fatal(err)
	}
	k := keys{key: map[string]ssh.PublicKey{}, cert: map[string]*ssh.Certificate{}, files: map[string]string{}}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			k.files[path] = string(b)
		}
		return err
	})
	k.ca = readPub(t, filepath.Join(dir, "user_ca.pub"))
	for _, p := range partners {
		path := PartnerKeyPath(dir, p)
		signer := signer(t, path)
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v; OpenSSH refuses a private key others can read", path, fi.Mode().Perm())
		}
		k.key[p] = signer.PublicKey()
		if pub := readPub(t, path+".pub"); string(pub.Marshal()) != string(signer.PublicKey().Marshal()) {
			t.Errorf("%s.pub is not the public half of %s", path, path)
		}
		cert, ok := readPub(t, path+"-cert.pub").(*ssh.Certificate)
		if !ok {
			t.Fatalf("%s-cert.pub holds no certificate", path)
		}
		k.cert[p] = cert
	}
	return k
}

func readPub(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pub
}

// loginAs checks a certificate as MinIO's SFTP server does: an
// ssh.CertChecker trusting the CA authenticates the login's user name.
func loginAs(ca ssh.PublicKey, cert *ssh.Certificate, user string, now time.Time) error {
	checker := ssh.CertChecker{
		IsUserAuthority: func(k ssh.PublicKey) bool { return string(k.Marshal()) == string(ca.Marshal()) },
		Clock:           func() time.Time { return now },
	}
	_, err := checker.Authenticate(login{user: user}, cert)
	return err
}

// login is the connection a checker sees; it asks only for the user.
type login struct {
	ssh.ConnMetadata
	user string
}

func (l login) User() string { return l.user }

func TestEachPartnersKeyIsCertifiedForItsOwnNameOnly(t *testing.T) {
	k := ensure(t, t.TempDir(), t0, "acme", "globex")
	for _, p := range []string{"acme", "globex"} {
		c := k.cert[p]
		if string(c.Key.Marshal()) != string(k.key[p].Marshal()) {
			t.Errorf("%s's certificate is for another key", p)
		}
		if c.CertType != ssh.UserCert || c.KeyId != p || !slices.Equal(c.ValidPrincipals, []string{p}) {
			t.Errorf("%s's certificate: type %d, id %q, principals %v; want a user certificate, id and only principal %s", p, c.CertType, c.KeyId, c.ValidPrincipals, p)
		}
		if len(c.CriticalOptions) != 0 {
			t.Errorf("%s's certificate has critical options %v, which MinIO refuses", p, c.CriticalOptions)
		}
		if err := loginAs(k.ca, c, p, t0); err != nil {
			t.Errorf("%s cannot log in as itself: %v", p, err)
		}
		if until := time.Unix(int64(c.ValidBefore), 0); until.Before(t0.Add(364*24*time.Hour)) || until.After(t0.Add(366*24*time.Hour)) {
			t.Errorf("%s's certificate is valid until %s, want a year from %s", p, until, t0)
		}
	}
	if err := loginAs(k.ca, k.cert["acme"], "globex", t0); err == nil {
		t.Error("acme's certificate logs in as globex")
	}
	if err := loginAs(k.ca, k.cert["acme"], "acme", t0.Add(366*24*time.Hour)); err == nil {
		t.Error("acme's certificate still logs in after a year")
	}
}

func TestARunKeepsWhatIsCurrentAndAddsNewPartners(t *testing.T) {
	dir := t.TempDir()
	first := ensure(t, dir, t0, "acme", "globex")
	// A month later, with a partner added to the config.
	later := t0.Add(30 * 24 * time.Hour)
	second := ensure(t, dir, later, "acme", "globex", "initech")
	for path, b := range first.files {
		if second.files[path] != b {
			t.Errorf("%s changed, though it was current", path)
		}
	}
	if err := loginAs(second.ca, second.cert["initech"], "initech", later); err != nil {
		t.Errorf("the partner added later got no working certificate: %v", err)
	}
}

func TestACertificateNearItsEndIsRenewedForTheSameKey(t *testing.T) {
	dir := t.TempDir()
	first := ensure(t, dir, t0, "acme")
	later := t0.Add(340 * 24 * time.Hour) // 25 days left
	second := ensure(t, dir, later, "acme")
	if string(second.key["acme"].Marshal()) != string(first.key["acme"].Marshal()) {
		t.Error("renewing the certificate replaced acme's key, which the partner holds")
	}
	if second.cert["acme"].ValidBefore <= first.cert["acme"].ValidBefore {
		t.Error("the certificate was not renewed with 25 days left")
	}
	if err := loginAs(second.ca, second.cert["acme"], "acme", later.Add(300*24*time.Hour)); err != nil {
		t.Errorf("the renewed certificate: %v", err)
	}
}

func TestCertificatesThatAreNotRightAreReissued(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, dir string)
	}{
		{"the CA was replaced", func(t *testing.T, dir string) {
			for _, f := range []string{"user_ca", "user_ca.pub"} {
				if err := os.Remove(filepath.Join(dir, f)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"another partner's certificate", func(t *testing.T, dir string) {
			copyFile(t, PartnerKeyPath(dir, "globex")+"-cert.pub", PartnerKeyPath(dir, "acme")+"-cert.pub")
		}},
		{"a certificate for the partner's key naming another partner", func(t *testing.T, dir string) {
			ca, acme := signer(t, filepath.Join(dir, "user_ca")), signer(t, PartnerKeyPath(dir, "acme"))
			cert, err := certify(ca, acme.PublicKey(), "globex", t0)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(PartnerKeyPath(dir, "acme")+"-cert.pub", ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"an unreadable certificate", func(t *testing.T, dir string) {
			if err := os.WriteFile(PartnerKeyPath(dir, "acme")+"-cert.pub", []byte("garbage\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"a certificate for an older key of the partner", func(t *testing.T, dir string) {
			if err := os.Remove(PartnerKeyPath(dir, "acme")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ensure(t, dir, t0, "acme", "globex")
			tt.spoil(t, dir)
			k := ensure(t, dir, t0, "acme", "globex")
			for _, p := range []string{"acme", "globex"} {
				if err := loginAs(k.ca, k.cert[p], p, t0); err != nil || string(k.cert[p].Key.Marshal()) != string(k.key[p].Marshal()) {
					t.Errorf("%s's certificate was not made right again (login: %v)", p, err)
				}
			}
		})
	}
}

func TestAnUnreadableKeyIsNamedWithWhatToDo(t *testing.T) {
	dir := t.TempDir()
	ensure(t, dir, t0, "acme")
	path := PartnerKeyPath(dir, "acme")
	if err := os.WriteFile(path, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := ensureSFTPKeys(dir, []string{"acme"}, t0)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("got %v, want an error naming %s and saying to delete it", err, path)
	}
}

func signer(t *testing.T, path string) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
