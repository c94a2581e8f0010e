//go:build integration

package activities_test

import (
	"bytes"
	"testing"

	"github.com/ferrydata/ferry/activities"
)

// The small-file fast path runs Inspect as a local activity, which cannot
// heartbeat: Inspect reads a file only when S3 says it is within the
// bound and it is not to be decrypted, and otherwise hands it back as
// ErrNotSmall, never as a problem of the file.
func TestInspectAsALocalActivityHandsBackWhatItMustNotRead(t *testing.T) {
	f := newFixture(t)
	body := textRows(200)
	key := "acme/inbound/small.csv"
	ref := f.ref(key, f.put(t, key, body))
	local := func(in *activities.InspectInput) (*activities.InspectResult, error) {
		t.Helper()
		return inspected(t)(f.env.ExecuteLocalActivity(f.acts.Inspect, in))
	}

	res, err := local(&activities.InspectInput{File: ref, Rules: csvRules, MaxBytes: int64(len(body))})
	if err != nil {
		t.Fatalf("a file of exactly the bound: %v", err)
	}
	if res.SHA256 != hexSHA(body) || res.BytesRead != int64(len(body)) {
		t.Fatalf("inspected %+v, want SHA-256 %s over %d bytes", res, hexSHA(body), len(body))
	}

	_, err = local(&activities.InspectInput{File: ref, Rules: csvRules, MaxBytes: int64(len(body)) - 1})
	appErr(t, err, activities.ErrNotSmall) // non-retryable: the regular activity takes over

	// Decryption stages its plaintext in parts and may grow far beyond the
	// ciphertext: never in a local activity, whether the name or the
	// content says the file is encrypted.
	k := newKeys(t)
	sealed := k.encrypt(t, k.ferry, bytes.NewReader(body))
	for _, key := range []string{"acme/inbound/orders.csv.pgp", "acme/inbound/orders.csv"} {
		ref := f.ref(key, f.put(t, key, sealed))
		in := f.decryptInput(t, ref, csvRules)
		in.MaxBytes = 1 << 20
		_, err := local(in)
		appErr(t, err, activities.ErrNotSmall)
	}
	// Without a key for the partner, an encrypted file is only read and
	// judged (quarantined as encrypted), which the fast path may do.
	ref = f.ref("acme/inbound/sealed.csv", f.put(t, "acme/inbound/sealed.csv", sealed))
	_, err = local(&activities.InspectInput{File: ref, Rules: csvRules, MaxBytes: 1 << 20})
	if v := violationOf(t, err); len(v.Reasons) == 0 {
		t.Fatalf("an encrypted upload of a partner without a key: %v", err)
	}
}
