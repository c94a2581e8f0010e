package pgp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// party is a key pair as files and as entities.
type party struct {
	privFile, pubFile string
	entity            *openpgp.Entity // unlocked
}

var (
	partiesOnce                  sync.Once
	ferry, acme, other, stranger *party
)

func newParty(t testing.TB, dir, name string, pass []byte) *party {
	t.Helper()
	priv, pub, err := GenerateKey(name, strings.ToLower(name)+"@example.com", pass)
	if err != nil {
		t.Fatal(err)
	}
	p := &party{privFile: filepath.Join(dir, name+".key.asc"), pubFile: filepath.Join(dir, name+".pub.asc")}
	for f, b := range map[string][]byte{p.privFile: priv, p.pubFile: pub} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	el, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(priv))
	if err != nil {
		t.Fatal(err)
	}
	if len(pass) > 0 {
		if err := el[0].DecryptPrivateKeys(pass); err != nil {
			t.Fatal(err)
		}
	}
	p.entity = el[0]
	return p
}

func parties(t testing.TB) {
	partiesOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferry-pgp-test-")
		if err != nil {
			t.Fatal(err)
		}
		ferry = newParty(t, dir, "Ferry", []byte("correct horse"))
		acme = newParty(t, dir, "Acme", nil)
		other = newParty(t, dir, "Other", nil)
		stranger = newParty(t, dir, "Stranger", nil)
	})
}

func ring(t testing.TB) *Keyring {
	t.Helper()
	parties(t)
	k, err := LoadKeyring(ferry.privFile, []byte("correct horse"), acme.pubFile)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type enc struct {
	to       *party
	signer   *party
	armored  bool
	compress packet.CompressionAlgo
}

func (e enc) seal(t testing.TB, plain io.Reader) []byte {
	t.Helper()
	var out bytes.Buffer
	var w io.Writer = &out
	var aw io.WriteCloser
	if e.armored {
		var err error
		if aw, err = armor.Encode(&out, "PGP MESSAGE", nil); err != nil {
			t.Fatal(err)
		}
		w = aw
	}
	var signer *openpgp.Entity
	if e.signer != nil {
		signer = e.signer.entity
	}
	cfg := &packet.Config{DefaultCompressionAlgo: e.compress, CompressionConfig: &packet.CompressionConfig{Level: 9}}
	pw, err := openpgp.Encrypt(w, openpgp.EntityList{e.to.entity}, signer, &openpgp.FileHints{IsBinary: true, FileName: "labs.csv"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(pw, plain); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if aw != nil {
		if err := aw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func open(t testing.TB, cipher []byte, opts Options) ([]byte, Result, error) {
	t.Helper()
	r, err := Decrypt(bytes.NewReader(cipher), ring(t), opts)
	if err != nil {
		return nil, Result{}, err
	}
	b, err := io.ReadAll(r)
	return b, r.Result(), err
}

func kindOf(t *testing.T, err error) Kind {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *pgp.Error", err, err)
	}
	return e.Kind
}

func TestRoundTrips(t *testing.T) {
	parties(t)
	plain := []byte(strings.Repeat("id,assay,result\n1,glucose,5.4\n", 3000))
	for _, tc := range []struct {
		name string
		enc  enc
		want string
	}{
		{"binary, signed", enc{to: ferry, signer: acme}, "valid"},
		{"armored, signed", enc{to: ferry, signer: acme, armored: true}, "valid"},
		{"compressed, signed", enc{to: ferry, signer: acme, compress: packet.CompressionZLIB}, "valid"},
		{"unsigned", enc{to: ferry}, "none"},
		{"signed by someone else", enc{to: ferry, signer: stranger}, "unknown-signer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, res, err := open(t, tc.enc.seal(t, bytes.NewReader(plain)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("plaintext differs: %d bytes, want %d", len(got), len(plain))
			}
			if res.SignatureStatus != tc.want || res.RecipientFingerprint != ring(t).RecipientFingerprints()[0] || res.FileName != "labs.csv" {
				t.Fatalf("result %+v, want signature %s", res, tc.want)
			}
			if tc.want == "valid" && (res.SignerFingerprint != ring(t).SignerFingerprints()[0] || res.SignedAt.IsZero()) {
				t.Fatalf("result %+v does not name acme's key", res)
			}
		})
	}
}

func TestEveryBadInputHasItsKind(t *testing.T) {
	parties(t)
	plain := []byte(strings.Repeat("id,assay,result\n1,glucose,5.4\n", 3000))
	good := enc{to: ferry, signer: acme}.seal(t, bytes.NewReader(plain))
	corrupt := bytes.Clone(good)
	corrupt[len(corrupt)/2] ^= 0x01
	armored := enc{to: ferry, signer: acme, armored: true}.seal(t, bytes.NewReader(plain))

	var sym bytes.Buffer
	sw, err := openpgp.SymmetricallyEncrypt(&sym, []byte("password"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	sw.Write(plain)
	sw.Close()

	require := Options{RequireSignature: true}
	for _, tc := range []struct {
		name   string
		cipher []byte
		opts   Options
		kind   Kind
		says   string
	}{
		{"encrypted to another key", enc{to: other, signer: acme}.seal(t, bytes.NewReader(plain)), require, KindWrongKey, ring(t).RecipientFingerprints()[0]},
		{"one flipped byte", corrupt, require, KindCorrupt, "upload it again"},
		{"cut in half", good[:len(good)/2], require, KindTruncated, "cut off"},
		{"armor cut in half", armored[:len(armored)/2], require, KindTruncated, "cut off"},
		{"unsigned, signature required", enc{to: ferry}.seal(t, bytes.NewReader(plain)), require, KindNoSignature, "not signed"},
		{"signed by a stranger, signature required", enc{to: ferry, signer: stranger}.seal(t, bytes.NewReader(plain)), require, KindBadSignature, "not one of this partner's signing keys"},
		{"password-encrypted", sym.Bytes(), require, KindSymmetric, "password"},
		{"not PGP at all", plain, require, KindNotEncrypted, "not an encrypted OpenPGP message"},
		{"over the size limit", good, Options{MaxPlaintextBytes: 1000}, KindTooLarge, "more than 1000 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := open(t, tc.cipher, tc.opts)
			if err == nil {
				t.Fatalf("decrypted %d bytes without an error", len(got))
			}
			if k := kindOf(t, err); k != tc.kind || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("%s: %v; want %s saying %q", k, err, tc.kind, tc.says)
			}
		})
	}
}

// zeros yields n zero bytes without holding them.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(p)), z.n)
	clear(p[:k])
	z.n -= k
	return int(k), nil
}

func TestACompressedBombStopsEarly(t *testing.T) {
	parties(t)
	bomb := enc{to: ferry, signer: acme, compress: packet.CompressionZLIB}.seal(t, &zeros{n: 64 << 20})
	r, err := Decrypt(bytes.NewReader(bomb), ring(t), Options{MaxRatio: 100})
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	if kindOf(t, err) != KindTooLarge {
		t.Fatalf("%v", err)
	}
	if n > 8<<20 {
		t.Fatalf("%d bytes of a %d-byte bomb came out before it was stopped", n, len(bomb))
	}
}

func TestMemoryStaysFlatForALargeMessage(t *testing.T) {
	parties(t)
	// Random bytes do not compress: 96 MiB of ciphertext streamed through a
	// pipe, never held.
	const size = 96 << 20
	pr, pw := io.Pipe()
	go func() {
		w, err := openpgp.Encrypt(pw, openpgp.EntityList{ferry.entity}, acme.entity, &openpgp.FileHints{IsBinary: true}, nil)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		_, err = io.Copy(w, io.LimitReader(rand.Reader, size))
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r, err := Decrypt(pr, ring(t), Options{RequireSignature: true})
	if err != nil {
		t.Fatal(err)
	}
	peak := uint64(0)
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, err := r.Read(buf)
		n += int64(k)
		if n%(8<<20) < int64(k) {
			runtime.ReadMemStats(&after)
			peak = max(peak, after.HeapInuse)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != size || r.Result().SignatureStatus != "valid" {
		t.Fatalf("%d bytes, %+v", n, r.Result())
	}
	if grew := int64(peak) - int64(before.HeapInuse); grew > 32<<20 {
		t.Fatalf("the heap grew by %d MiB while decrypting %d MiB: the message is being buffered", grew>>20, size>>20)
	}
}

func TestLoadKeyringSaysWhatIsWrong(t *testing.T) {
	parties(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.asc")
	os.WriteFile(garbage, []byte("not a key\n"), 0o600)
	for _, tc := range []struct {
		name    string
		priv    string
		pass    string
		signers []string
		says    string
	}{
		{"missing file", filepath.Join(dir, "nope.asc"), "", nil, "no such file"},
		{"garbage", garbage, "", nil, "is not an OpenPGP key"},
		{"a public key as the private one", ferry.pubFile, "", nil, "holds a public key"},
		{"no passphrase for a protected key", ferry.privFile, "", nil, "protected by a passphrase"},
		{"wrong passphrase", ferry.privFile, "wrong", nil, "does not unlock"},
		{"garbage signer", ferry.privFile, "correct horse", []string{garbage}, "garbage.asc is not an OpenPGP key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyring(tc.priv, []byte(tc.pass), tc.signers...)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("error %v, want one saying %q", err, tc.says)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	parties(t)
	binary := enc{to: ferry}.seal(t, strings.NewReader("a,b\n"))
	armored := enc{to: ferry, armored: true}.seal(t, strings.NewReader("a,b\n"))
	for _, tc := range []struct {
		name string
		head []byte
		want bool
	}{
		{"binary message", binary, true},
		{"armored message", armored, true},
		{"armored after a BOM and blank lines", append([]byte("\xef\xbb\xbf\n\n"), armored...), true},
		{"CSV", []byte("id,name\n1,x\n"), false},
		{"an armored public key", []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n"), false},
		{"0x84 then garbage", append([]byte{0x84, 0x10, 0x99}, bytes.Repeat([]byte{7}, 60)...), false},
		{"0xC1 then garbage", append([]byte{0xc1, 0x20, 0x05}, bytes.Repeat([]byte{1}, 60)...), false},
		{"0x85 with a bad algorithm", append([]byte{0x85, 0x01, 0x0c, 0x03}, bytes.Repeat([]byte{0}, 60)...), false},
		{"empty", nil, false},
	} {
		if got := Detect(tc.head[:min(len(tc.head), 512)]); got != tc.want {
			t.Errorf("%s: Detect = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPlainName(t *testing.T) {
	for in, want := range map[string]string{
		"acme/inbound/labs.csv.pgp": "acme/inbound/labs.csv",
		"labs.csv.GPG":              "labs.csv",
		"labs.asc":                  "labs",
		"labs.csv":                  "labs.csv",
		".pgp":                      ".pgp",
		"acme/inbound/.pgp":         "acme/inbound/.pgp",
	} {
		if got := PlainName(in); got != want {
			t.Errorf("PlainName(%q) = %q, want %q", in, got, want)
		}
		if EncryptedName(in) != (in != want || strings.HasSuffix(in, ".pgp")) {
			t.Errorf("EncryptedName(%q) disagrees with PlainName", in)
		}
	}
}

// FuzzDecrypt: whatever the bytes, Decrypt and the Reader return a
// *pgp.Error or a clean end, never panic.
func FuzzDecrypt(f *testing.F) {
	parties(f)
	good := enc{to: ferry, signer: acme}.seal(f, strings.NewReader("a,b\n1,2\n"))
	f.Add(good)
	f.Add(enc{to: ferry, armored: true}.seal(f, strings.NewReader("a,b\n")))
	f.Add(good[:len(good)/2])
	k := ring(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decrypt(bytes.NewReader(b), k, Options{RequireSignature: true, MaxPlaintextBytes: 1 << 20, MaxRatio: 100})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decrypt: %T %v", err, err)
			}
			return
		}
		_, err = io.Copy(io.Discard, r)
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("Read: %T %v", err, err)
		}
	})
}

// TestAReadErrorIsNotTheFilesFault: the connection to S3 failing half way
// says nothing about the file, so it must not come back as an *Error
// (which the inspection takes for the partner's fault): the activity
// retries it.
func TestAReadErrorIsNotTheFilesFault(t *testing.T) {
	parties(t)
	good := enc{to: ferry, signer: acme}.seal(t, bytes.NewReader(bytes.Repeat([]byte("x"), 1<<20)))
	reset := errors.New("connection reset by peer")
	for _, at := range []int{0, 10, len(good) / 2, len(good) - 10} {
		r, err := Decrypt(io.MultiReader(bytes.NewReader(good[:at]), iotest.ErrReader(reset)), ring(t), Options{RequireSignature: true})
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		var e *Error
		if !errors.Is(err, reset) || errors.As(err, &e) {
			t.Errorf("read error after %d bytes: %v (%T), want the read error itself, not a *pgp.Error", at, err, err)
		}
	}
}

// TestACutIsTruncatedWhereverItFalls cuts messages at every length past
// what Detect needs: each cut is truncated (the partner uploads again),
// never corrupt, including a cut right after the session key packet and
// one inside the armor's base64. A cut after the armored data (in its
// checksum or END line) leaves the message whole.
func TestACutIsTruncatedWhereverItFalls(t *testing.T) {
	k := ring(t) // loaded once: unlocking the key is the slow part
	plain := "id,assay\n1,glucose\n"
	for _, e := range []enc{{to: ferry}, {to: ferry, signer: acme, compress: packet.CompressionZLIB}, {to: ferry, armored: true}} {
		msg := e.seal(t, strings.NewReader(plain))
		for n := 64; n < len(msg); n++ {
			var got []byte
			r, err := Decrypt(bytes.NewReader(msg[:n]), k, Options{})
			if err == nil {
				got, err = io.ReadAll(r)
			}
			if err == nil && e.armored && string(got) == plain {
				continue
			}
			if err == nil {
				t.Fatalf("%+v cut at %d of %d: decrypted %q", e, n, len(msg), got)
			}
			if k := kindOf(t, err); k != KindTruncated {
				t.Errorf("%+v cut at %d of %d: %s (%v), want %s", e, n, len(msg), k, err, KindTruncated)
			}
		}
	}
}

// TestAKeyFileMayHoldARetiredKey: during a rotation Ferry's key file holds
// last period's key, now expired, and the current one. It loads; partners
// are pointed at the current key only; a file encrypted to the old key
// while it was valid still decrypts.
func TestAKeyFileMayHoldARetiredKey(t *testing.T) {
	then := time.Now().Add(-72 * time.Hour)
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, KeyLifetimeSecs: 3600, Time: func() time.Time { return then }}
	old, err := openpgp.NewEntity("Ferry 2025", "", "ferry@example.com", cfg)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := openpgp.NewEntity("Ferry 2026", "", "ferry@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519})
	if err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	w, _ := armor.Encode(&file, openpgp.PrivateKeyType, nil)
	for _, e := range []*openpgp.Entity{old, cur} {
		if err := e.SerializePrivateWithoutSigning(w, nil); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	path := filepath.Join(t.TempDir(), "ferry.key.asc")
	os.WriteFile(path, file.Bytes(), 0o600)
	k, err := LoadKeyring(path, nil)
	if err != nil {
		t.Fatalf("a key file with a retired key next to the current one: %v", err)
	}
	if got, want := k.RecipientFingerprints(), []string{fmt.Sprintf("%X", cur.PrimaryKey.Fingerprint)}; !slices.Equal(got, want) {
		t.Errorf("RecipientFingerprints %v, want only the current key %v", got, want)
	}
	var msg bytes.Buffer
	pw, err := openpgp.Encrypt(&msg, openpgp.EntityList{old}, nil, nil, &packet.Config{Time: func() time.Time { return then.Add(time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("sent before the rotation"))
	pw.Close()
	r, err := Decrypt(&msg, k, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || string(got) != "sent before the rotation" {
		t.Fatalf("a file encrypted to the retired key: %q, %v", got, err)
	}

	// With only the retired key, there is nothing to encrypt to.
	var only bytes.Buffer
	w, _ = armor.Encode(&only, openpgp.PrivateKeyType, nil)
	old.SerializePrivateWithoutSigning(w, nil)
	w.Close()
	os.WriteFile(path, only.Bytes(), 0o600)
	if _, err := LoadKeyring(path, nil); err == nil || !strings.Contains(err.Error(), "no key usable for encryption") {
		t.Fatalf("a key file with only an expired key: %v", err)
	}
}

// TestASignerKeyIsJudgedWhenItSigns: a partner's signing key that has
// expired or was revoked still loads (a worker restarting after that date
// must not stop for every partner); what it signed is refused, saying why.
func TestASignerKeyIsJudgedWhenItSigns(t *testing.T) {
	parties(t)
	then := time.Now().Add(-72 * time.Hour)
	expired, err := openpgp.NewEntity("Acme 2025", "", "acme@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, KeyLifetimeSecs: 3600, Time: func() time.Time { return then }})
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := openpgp.NewEntity("Acme laptop", "", "acme@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519})
	if err != nil {
		t.Fatal(err)
	}
	// Signed while each key was good: the signed message, then encrypted
	// to Ferry as it is.
	signed := func(e *openpgp.Entity, at time.Time) []byte {
		var b bytes.Buffer
		w, err := openpgp.Sign(&b, e, nil, &packet.Config{Time: func() time.Time { return at }})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("id,qty\n1,5\n"))
		w.Close()
		return sealPackets(t, b.Bytes())
	}
	fromExpired := signed(expired, then.Add(time.Minute))
	fromRevoked := signed(revoked, time.Now())
	if err := revoked.RevokeKey(packet.KeyCompromised, "laptop stolen", nil); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files []string
	for i, e := range []*openpgp.Entity{expired, revoked} {
		var b bytes.Buffer
		w, _ := armor.Encode(&b, openpgp.PublicKeyType, nil)
		e.Serialize(w)
		w.Close()
		files = append(files, filepath.Join(dir, fmt.Sprintf("signer%d.pub.asc", i)))
		os.WriteFile(files[i], b.Bytes(), 0o600)
	}
	k, err := LoadKeyring(ferry.privFile, []byte("correct horse"), append([]string{acme.pubFile}, files...)...)
	if err != nil {
		t.Fatalf("signer keys that expired or were revoked: %v", err)
	}
	for name, tc := range map[string]struct {
		msg  []byte
		says string
	}{"expired": {fromExpired, "expired"}, "revoked": {fromRevoked, "revoked"}} {
		r, err := Decrypt(bytes.NewReader(tc.msg), k, Options{})
		if err == nil {
			_, err = io.ReadAll(r)
		}
		if kindOf(t, err) != KindBadSignature || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("signed by the %s key: %v, want %s saying %q", name, err, KindBadSignature, tc.says)
		}
	}
}

// sealPackets encrypts a packet stream (a signed message) to Ferry as it
// is, where openpgp.Encrypt would wrap it in literal data.
func sealPackets(t *testing.T, inner []byte) []byte {
	t.Helper()
	key, ok := ferry.entity.EncryptionKey(time.Now())
	if !ok {
		t.Fatal("Ferry's key cannot encrypt")
	}
	session := make([]byte, 32)
	rand.Read(session)
	var out bytes.Buffer
	if err := packet.SerializeEncryptedKey(&out, key.PublicKey, packet.CipherAES256, session, nil); err != nil {
		t.Fatal(err)
	}
	w, err := packet.SerializeSymmetricallyEncrypted(&out, packet.CipherAES256, false, packet.CipherSuite{}, session, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(inner)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestDetectTakesNoRandomFileForOpenPGP: random files that start with a
// byte that could begin a session key packet are not taken for OpenPGP
// (the inspection would send them to decryption, or quarantine them as
// encrypted for a partner without a key). The seed is fixed: the same
// 20000 files each run.
func TestDetectTakesNoRandomFileForOpenPGP(t *testing.T) {
	rng := mathrand.New(mathrand.NewChaCha8([32]byte{'f', 'e', 'r', 'r', 'y'}))
	head := make([]byte, 512)
	for _, first := range []byte{0x84, 0x85, 0x86, 0xc1, 0x8c, 0x8d, 0xc3} {
		taken := 0
		for range 20000 {
			for i := range head {
				head[i] = byte(rng.Uint32())
			}
			head[0] = first
			if Detect(head) {
				taken++
			}
		}
		if taken > 2 { // a few in 100 000 at most
			t.Errorf("%d of 20000 random files starting with %#x taken for OpenPGP", taken, first)
		}
	}
}

// TestDetectOnShortHeads: 64 bytes of a message whose session key packet
// is much longer (RSA 4096: 524 bytes) are enough.
func TestDetectOnShortHeads(t *testing.T) {
	for _, bits := range []int{4096} {
		e, err := openpgp.NewEntity("rsa", "", "rsa@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: bits})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{64, 512} {
			msg := enc{to: &party{entity: e}}.seal(t, strings.NewReader("x"))
			if !Detect(msg[:n]) {
				t.Errorf("RSA %d: the first %d bytes of a message not detected", bits, n)
			}
		}
	}
}
