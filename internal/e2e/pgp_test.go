//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/pgp"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// partnerGPG is a partner's GnuPG, as the README tells a partner to set it
// up: Ferry's public key for them imported, their own signing key.
type partnerGPG struct {
	t                *testing.T
	home             string
	ferry, signer    string // fingerprints
	other, otherSign string // a key that is not Ferry's, and a signing key that is not the partner's
}

func newPartnerGPG(t *testing.T, st *stacktest.Stack, partner string) *partnerGPG {
	t.Helper()
	g := &partnerGPG{t: t, home: t.TempDir()}
	cfg := st.Config.Partners[partner].PGP
	g.ferry = g.importKey(pgp.PublicKeyFile(cfg.PrivateKeyFile))
	g.signer = g.importKey(pgp.PrivateKeyFile(cfg.SignerKeyFiles[0]))
	g.other = g.newKey("someone else <other@example.com>")
	g.otherSign = g.newKey("an impostor <impostor@example.com>")
	return g
}

func (g *partnerGPG) gpg(stdin io.Reader, args ...string) []byte {
	g.t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", g.home, "--batch", "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--trust-model", "always"}, args...)...)
	cmd.Stdin = stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// importKey imports a key file and returns its fingerprint.
func (g *partnerGPG) importKey(file string) string {
	g.t.Helper()
	g.gpg(nil, "--import", file)
	return g.fingerprintOf(file)
}

func (g *partnerGPG) fingerprintOf(file string) string {
	g.t.Helper()
	out := g.gpg(nil, "--with-colons", "--import-options", "show-only", "--import", file)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("no fingerprint in %s", file)
	return ""
}

func (g *partnerGPG) newKey(uid string) string {
	g.t.Helper()
	g.gpg(nil, "--quick-gen-key", uid, "default", "default", "never")
	out := g.gpg(nil, "--with-colons", "--list-keys", uid)
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Split(line, ":"); f[0] == "fpr" {
			return f[9]
		}
	}
	g.t.Fatalf("gpg made no key for %s", uid)
	return ""
}

// encrypt encrypts plain to recipient, signed by signer unless it is "".
func (g *partnerGPG) encrypt(plain []byte, recipient, signer string, extra ...string) []byte {
	g.t.Helper()
	args := append([]string{"--recipient", recipient}, extra...)
	if signer != "" {
		args = append(args, "--local-user", signer, "--sign")
	}
	return g.gpg(bytes.NewReader(plain), append(args, "--encrypt", "--output", "-")...)
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func csvBody(rows int) []byte {
	var b []byte
	for i := range rows {
		b = fmt.Appendf(b, "%d,%s\n", i, rand.Text())
	}
	return b
}

func TestPGPEncryptedAndSignedSFTPUploadIsDeliveredAsPlaintext(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	g := newPartnerGPG(t, st, "acme")
	plain := csvBody(20_000)
	cipher := g.encrypt(plain, g.ferry, g.signer)
	name := stacktest.Unique("labs-") + ".csv"

	if out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "put "+localFile(t, name+".pgp", cipher)); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	key := "acme/inbound/" + name + ".pgp"
	id := findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey=%q`, key))
	res := waitResult(t, st, id)
	if res.Status != filestatus.Delivered || res.SHA256 != sha(plain) || res.DestKey != "acme/"+name {
		t.Fatalf("result %+v: want delivered as acme/%s with the plaintext's SHA-256 %s", res, name, sha(plain))
	}
	obj, err := st.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(res.DestBucket), Key: aws.String(res.DestKey), VersionId: aws.String(res.DestVersionID)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, plain) {
		t.Fatalf("delivered %d bytes, not the %d bytes of plaintext", len(got), len(plain))
	}

	// Both checksums and the signer are on record, in the status query and
	// the audit trail.
	rec, err := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable).Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.SHA256 != sha(plain) || rec.CiphertextSHA256 != sha(cipher) || rec.CiphertextSize != int64(len(cipher)) ||
		rec.SignatureStatus != "valid" || rec.SignerFingerprint != g.signer || rec.DecryptedWith == "" {
		t.Fatalf("record %+v: want plaintext SHA-256 %s, ciphertext %s (%d bytes), signed by %s", rec, sha(plain), sha(cipher), len(cipher), g.signer)
	}
	state := waitStage(t, st, id, filestatus.Delivered)
	if d := state.Decryption; d == nil || d.CiphertextSHA256 != sha(cipher) || d.SignerFingerprint != g.signer {
		t.Fatalf("status query's decryption %+v", state.Decryption)
	}
	trail, err := (&audit.Store{DB: st.AWS.DynamoDB, Table: st.Config.DynamoDB.AuditTable}).List(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var all strings.Builder
	for _, e := range trail {
		fmt.Fprintln(&all, e.Action, e.Details)
	}
	if !strings.Contains(all.String(), sha(cipher)) || !strings.Contains(all.String(), sha(plain)) || !strings.Contains(all.String(), g.signer) {
		t.Fatalf("the audit trail does not name both checksums and the signer:\n%s", all.String())
	}
	// The plaintext's working copy is gone once delivered.
	d := state.Decryption
	stacktest.Eventually(t, 30*time.Second, func() (bool, string) {
		v, err := st.AWS.S3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(d.PlaintextBucket), Prefix: aws.String(d.PlaintextKey)})
		if err != nil {
			t.Fatal(err)
		}
		return len(v.Versions) == 0, fmt.Sprintf("%d versions of s3://%s/%s remain", len(v.Versions), d.PlaintextBucket, d.PlaintextKey)
	})
}

func TestBadPGPUploadsAreQuarantinedWithTheirReason(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	g := newPartnerGPG(t, st, "acme")
	plain := csvBody(2_000)
	good := g.encrypt(plain, g.ferry, g.signer)
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0xff
	// Zeros compress to almost nothing: a few KiB that would expand to 256 MiB.
	bomb := g.encrypt(make([]byte, 256<<20), g.ferry, g.signer, "--compress-algo", "bzip2", "--bzip2-compress-level", "9")

	tests := []struct {
		name    string
		partner string
		file    string
		body    []byte
		want    string // the first reason says it
	}{
		{"encrypted to another key", "acme", ".csv.pgp", g.encrypt(plain, g.other, g.signer), "PGP: the file is encrypted to key ID"},
		{"corrupt", "acme", ".csv.gpg", corrupt, "PGP: the file is corrupt"},
		{"truncated", "acme", ".csv.pgp", good[:len(good)*2/3], "PGP: the file ends before the encrypted message does"},
		{"unsigned though a signature is required", "acme", ".csv.pgp", g.encrypt(plain, g.ferry, ""), "PGP: the file is not signed"},
		{"signed by someone else", "acme", ".csv.pgp", g.encrypt(plain, g.ferry, g.otherSign), "which is not one of this partner's signing keys"},
		{"decompression bomb", "acme", ".csv.pgp", bomb, "a decompression bomb"},
		{"armored, for a partner Ferry holds no key for", "initech", ".csv", g.gpg(bytes.NewReader(plain), "--recipient", g.ferry, "--armor", "--encrypt", "--output", "-"), "Ferry holds no decryption key for partner initech"},
	}
	type upload struct {
		key  string
		body []byte
	}
	uploads := make([]upload, len(tests))
	for i, tt := range tests {
		name := stacktest.Unique("bad-") + tt.file
		if out, err := sftpBatch(t, st, tt.partner, "cd /landing/"+tt.partner+"/inbound", "put "+localFile(t, name, tt.body)); err != nil {
			t.Fatalf("%s: sftp upload failed: %v\n%s", tt.name, err, out)
		}
		uploads[i] = upload{key: tt.partner + "/inbound/" + name, body: tt.body}
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := findWorkflow(t, st, fmt.Sprintf(`Partner=%q AND ObjectKey=%q`, tt.partner, uploads[i].key))
			rejectWhenDone(t, st, id, "")
			state := waitStage(t, st, id, filestatus.Quarantined)
			if len(state.Reasons) == 0 || !strings.Contains(state.Reasons[0], tt.want) {
				t.Fatalf("reasons %q, want the first to say %q", state.Reasons, tt.want)
			}
			// The partner's rules are about the name without .pgp.
			if r := strings.Join(state.Reasons, "; "); strings.Contains(r, "is not allowed for this partner") {
				t.Fatalf("reasons %q judge the .pgp name against the partner's extensions", r)
			}
			if state.Decryption != nil {
				t.Fatalf("an upload that was not decrypted has decryption facts: %+v", state.Decryption)
			}
			// What is quarantined is the upload itself, byte for byte.
			if state.SHA256 != sha(uploads[i].body) {
				t.Fatalf("quarantined SHA-256 %s, the upload's is %s", state.SHA256, sha(uploads[i].body))
			}
			rec, err := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable).Get(context.Background(), id)
			if err != nil || rec.Status != filestatus.Quarantined || rec.QuarantineKey == "" {
				t.Fatalf("record %+v, %v", rec, err)
			}
			if filepath.Ext(rec.QuarantineKey) != filepath.Ext(uploads[i].key) {
				t.Fatalf("quarantined as %s: the ciphertext keeps its name", rec.QuarantineKey)
			}
		})
	}
}
