//go:build integration

package activities_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/clamd"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/pgp"
	"github.com/ferrydata/ferry/internal/rules"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// Malware scanning and PGP decryption in the inspection's one read,
// against real MinIO and a real clamd.

const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

var scanRules = rules.Rules{AllowedExtensions: []string{".csv"}, CheckContent: true, Scan: true}

func newScanningFixture(t testing.TB) *fixture {
	t.Helper()
	f := newFixture(t)
	st := stacktest.Require(t, stacktest.Clamd)
	c, err := clamd.New(st.Env["FERRY_SCANNER_CLAMD"], 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f.acts.Scanner, f.acts.ScanMaxBytes = c, 64<<20
	return f
}

func violationOf(t *testing.T, err error) activities.Violation {
	t.Helper()
	app := appErr(t, err, activities.ErrRuleViolation)
	var v activities.Violation
	if err := app.Details(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func textRows(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, []byte(rand.Text()+","+strings.Repeat("x", i%40)+"\n")...)
	}
	return b
}

func TestInspectScansInTheSameRead(t *testing.T) {
	f := newScanningFixture(t)
	clean := textRows(60_000) // several read buffers
	key := "acme/inbound/clean.csv"
	res, err := f.inspect(t, f.ref(key, f.put(t, key, clean)), scanRules)
	if err != nil {
		t.Fatal(err)
	}
	if res.Scan.Verdict != ingest.ScanClean || !strings.HasPrefix(res.Scan.Engine, "ClamAV ") || res.Scan.Database == "" {
		t.Fatalf("scan %+v, want clean by ClamAV with its database", res.Scan)
	}
	if res.BytesRead != int64(len(clean)) {
		t.Fatalf("read %d bytes of %d: the scan must share the one read", res.BytesRead, len(clean))
	}

	// EICAR in the middle of a CSV, past the first read buffer.
	infected := append(append(textRows(30_000), []byte("1,"+eicar+"\n")...), textRows(30_000)...)
	key = "acme/inbound/infected.csv"
	_, err = f.inspect(t, f.ref(key, f.put(t, key, infected)), scanRules)
	v := violationOf(t, err)
	if v.Result.Scan.Verdict != ingest.ScanFound || v.Result.Scan.Signature == "" {
		t.Fatalf("scan %+v, want a finding", v.Result.Scan)
	}
	if v.Classes[0] != rules.ClassMalware || !strings.Contains(v.Reasons[0], v.Result.Scan.Signature) {
		t.Fatalf("reasons %v (%v), want malware naming %s", v.Reasons, v.Classes, v.Result.Scan.Signature)
	}
	if v.Result.SHA256 != hexSHA(infected) || v.Result.BytesRead != int64(len(infected)) {
		t.Fatalf("the infected file was not read in full: %+v", v.Result)
	}
}

func TestInspectOfAFileTooLargeToScanFollowsThePolicy(t *testing.T) {
	f := newScanningFixture(t)
	f.acts.ScanMaxBytes = 1 << 20
	body := textRows(40_000) // > 1 MiB
	key := "acme/inbound/large.csv"
	ref := f.ref(key, f.put(t, key, body))

	_, err := f.inspect(t, ref, scanRules)
	v := violationOf(t, err)
	if v.Classes[0] != rules.ClassUnscanned || !strings.Contains(v.Reasons[0], "too large to scan") || v.Result.Scan.Verdict != ingest.ScanNotScanned {
		t.Fatalf("violation %+v, want quarantined as too large to scan", v)
	}

	deliverUnscanned := scanRules
	deliverUnscanned.ScanTooLarge = rules.ScanTooLargeDeliver
	res, err := f.inspect(t, ref, deliverUnscanned)
	if err != nil {
		t.Fatal(err)
	}
	if res.Scan.Verdict != ingest.ScanNotScanned || !strings.Contains(res.Scan.Note, "too large to scan") {
		t.Fatalf("scan %+v, want recorded as not scanned", res.Scan)
	}
}

func TestInspectWithTheScannerDownIsRetriedNeverClean(t *testing.T) {
	f := newFixture(t)
	c, err := clamd.New("tcp://127.0.0.1:1", time.Second) // nothing listens on port 1
	if err != nil {
		t.Fatal(err)
	}
	f.acts.Scanner, f.acts.ScanMaxBytes = c, 1<<20
	key := "acme/inbound/a.csv"
	_, err = f.inspect(t, f.ref(key, f.put(t, key, []byte("a,b\n"))), scanRules)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrScannerUnavailable || app.NonRetryable() || !strings.Contains(app.Message(), "127.0.0.1:1") {
		t.Fatalf("error %v: want a retryable %s naming the scanner", err, activities.ErrScannerUnavailable)
	}
}

// keys is a partner's PGP set-up: Ferry's key (the keyring the worker
// loads) and the partner's signing key.
type keys struct {
	ring    *pgp.Keyring
	ferry   openpgp.EntityList // public
	partner openpgp.EntityList // private
	other   openpgp.EntityList // a public key Ferry does not hold
}

func newKeys(t *testing.T) *keys {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	read := func(b []byte) openpgp.EntityList {
		el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return el
	}
	ferryPriv, ferryPub, err := pgp.GenerateKey("Ferry", "ferry@example.com", []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	partnerPriv, partnerPub, err := pgp.GenerateKey("Acme", "acme@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, otherPub, err := pgp.GenerateKey("Other", "other@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	ring, err := pgp.LoadKeyring(write("ferry.key.asc", ferryPriv), []byte("s3cret"), write("acme.pub.asc", partnerPub))
	if err != nil {
		t.Fatal(err)
	}
	return &keys{ring: ring, ferry: read(ferryPub), partner: read(partnerPriv), other: read(otherPub)}
}

// encrypt encrypts (and signs with the partner's key) as a partner's tool would.
func (k *keys) encrypt(t *testing.T, to openpgp.EntityList, plain io.Reader) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := openpgp.Encrypt(&out, to, k.partner[0], &openpgp.FileHints{IsBinary: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func (f *fixture) decryptInput(t *testing.T, ref activities.FileRef, r rules.Rules) *activities.InspectInput {
	return &activities.InspectInput{File: ref, Rules: r, Decrypt: &ingest.Decryption{
		RequireSignature: true, MaxPlaintextBytes: 1 << 30, MaxExpansion: 1000,
		PlaintextBucket: f.stack.Bucket(t, false), PlaintextKey: "plaintext/acme/" + ref.VersionID + "/orders.csv.pgp",
	}}
}

func (f *fixture) versionsAndUploads(t *testing.T, bucket, key string) (versions, uploads int) {
	t.Helper()
	v, err := f.stack.AWS.S3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := f.stack.AWS.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	return len(v.Versions), len(u.Uploads)
}

func TestInspectDecryptsScansAndStagesThePlaintextInOneRead(t *testing.T) {
	f := newScanningFixture(t)
	k := newKeys(t)
	f.acts.Keyrings = map[string]*pgp.Keyring{"acme": k.ring}
	plain := textRows(500_000) // ~20 MiB: a multipart upload of the plaintext
	cipher := k.encrypt(t, k.ferry, bytes.NewReader(plain))
	key := "acme/inbound/orders.csv.pgp"
	ref := f.ref(key, f.put(t, key, cipher))
	in := f.decryptInput(t, ref, scanRules)
	d := in.Decrypt

	// An upload a killed attempt left under the plaintext's key is aborted.
	if _, err := f.stack.AWS.S3.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(d.PlaintextBucket), Key: aws.String(d.PlaintextKey)}); err != nil {
		t.Fatal(err)
	}
	res, err := f.inspectInput(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if res.SHA256 != hexSHA(plain) || res.Size != int64(len(plain)) || res.Scan.Verdict != ingest.ScanClean {
		t.Fatalf("result %+v: want the plaintext's size and SHA-256, scanned clean", res)
	}
	dec := res.Decryption
	if dec == nil || dec.CiphertextSHA256 != hexSHA(cipher) || dec.CiphertextSize != int64(len(cipher)) || dec.SignatureStatus != "valid" || dec.SignerFingerprint == "" || dec.RecipientFingerprint == "" {
		t.Fatalf("decryption facts %+v", dec)
	}
	obj := f.readBack(t, dec.PlaintextBucket, dec.PlaintextKey, dec.PlaintextVersionID)
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, plain) {
		t.Fatalf("staged plaintext differs: %d bytes, want %d", len(got), len(plain))
	}
	if !strings.Contains(aws.ToString(obj.ETag), "-") {
		t.Errorf("a %d-byte plaintext was not uploaded in parts (ETag %s)", len(plain), aws.ToString(obj.ETag))
	}
	if v, u := f.versionsAndUploads(t, d.PlaintextBucket, d.PlaintextKey); v != 1 || u != 0 {
		t.Fatalf("%d versions and %d unfinished uploads under the plaintext's key, want 1 and 0", v, u)
	}

	if _, err := f.env.ExecuteActivity(activities.DiscardPlaintextName, &activities.DiscardPlaintextInput{
		File: activities.FileRef{FileID: ref.FileID, Partner: "acme", Bucket: d.PlaintextBucket, Key: d.PlaintextKey, VersionID: dec.PlaintextVersionID},
	}); err != nil {
		t.Fatal(err)
	}
	if v, _ := f.versionsAndUploads(t, d.PlaintextBucket, d.PlaintextKey); v != 0 {
		t.Fatalf("%d versions of the plaintext remain after DiscardPlaintext", v)
	}
}

func TestInspectOfAnUndecryptableUploadQuarantinesTheCiphertext(t *testing.T) {
	f := newFixture(t)
	k := newKeys(t)
	f.acts.Keyrings = map[string]*pgp.Keyring{"acme": k.ring}
	plain := textRows(50_000)
	cipher := k.encrypt(t, k.other, bytes.NewReader(plain)) // not to Ferry's key
	key := "acme/inbound/orders.csv.pgp"
	ref := f.ref(key, f.put(t, key, cipher))
	in := f.decryptInput(t, ref, rulesAny)

	_, err := f.inspectInput(t, in)
	v := violationOf(t, err)
	if v.Classes[0] != rules.ClassDecryption || v.Result.Decryption != nil {
		t.Fatalf("violation %+v, want a decryption failure with no plaintext", v)
	}
	if v.Result.SHA256 != hexSHA(cipher) || v.Result.BytesRead != int64(len(cipher)) {
		t.Fatalf("result %+v: the ciphertext must be read in full and bound by its SHA-256 %s", v.Result, hexSHA(cipher))
	}
	if n, u := f.versionsAndUploads(t, in.Decrypt.PlaintextBucket, in.Decrypt.PlaintextKey); n != 0 || u != 0 {
		t.Fatalf("a failed decryption left %d versions and %d uploads of plaintext", n, u)
	}
}

func TestInspectOfEncryptionAgainstThePartnersPolicy(t *testing.T) {
	f := newFixture(t)
	k := newKeys(t)
	cipher := k.encrypt(t, k.ferry, strings.NewReader("a,b\n"))

	// Encrypted (found by content, whatever its name) for a partner
	// Ferry holds no key for.
	key := "acme/inbound/orders.csv"
	_, err := f.inspect(t, f.ref(key, f.put(t, key, cipher)), rulesAny)
	if v := violationOf(t, err); v.Classes[0] != rules.ClassEncrypted || !strings.Contains(v.Reasons[0], "no decryption key") {
		t.Fatalf("violation %+v, want an encrypted file without a key", v)
	}

	// A name is no proof: a plain .asc of a partner Ferry holds no key for
	// is an ordinary file.
	key = "acme/inbound/notes.asc"
	if _, err := f.inspect(t, f.ref(key, f.put(t, key, []byte("plain notes\n"))), rulesAny); err != nil {
		t.Fatalf("a plain .asc was refused: %v", err)
	}

	// Not encrypted for a partner that must encrypt.
	f.acts.Keyrings = map[string]*pgp.Keyring{"acme": k.ring}
	key = "acme/inbound/plain.csv"
	in := f.decryptInput(t, f.ref(key, f.put(t, key, []byte("a,b\n"))), rulesAny)
	in.Decrypt.Required = true
	_, err = f.inspectInput(t, in)
	if v := violationOf(t, err); v.Classes[0] != rules.ClassEncrypted || !strings.Contains(v.Reasons[0], "must encrypt") {
		t.Fatalf("violation %+v, want a plaintext upload refused", v)
	}
}
