package hmacsig

import "testing"

func TestSignMatchesAKnownVectorAndVerifies(t *testing.T) {
	secret, body := []byte("s3cret"), []byte(`{"a":1}`)
	// printf '{"a":1}' | openssl dgst -sha256 -hmac s3cret
	const want = "sha256=5910e62016ef5034272c926c27071992a465c2335cecf41851bda071577f4f6d"
	if got := Sign(secret, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	tests := []struct {
		name           string
		secret, body   []byte
		header         string
		wantVerifiable bool
	}{
		{"good", secret, body, want, true},
		{"other body", secret, []byte(`{"a":2}`), want, false},
		{"other secret", []byte("wrong"), body, want, false},
		{"no prefix", secret, body, want[len("sha256="):], false},
		{"not hex", secret, body, "sha256=zz", false},
		{"empty secret", nil, body, Sign(nil, body), false},
	}
	for _, tt := range tests {
		if got := Verify(tt.secret, tt.body, tt.header); got != tt.wantVerifiable {
			t.Errorf("%s: Verify = %v, want %v", tt.name, got, tt.wantVerifiable)
		}
	}
}
