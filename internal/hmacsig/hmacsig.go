// Package hmacsig computes and checks Ferry's body signature,
//
//	X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the body>
//
// which Ferry sends with its webhook notifications and the bridge accepts
// on inbound events. One implementation, so the two cannot drift.
package hmacsig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Header is the HTTP header that carries the signature.
const Header = "X-Ferry-Signature"

const prefix = "sha256="

// Sign returns the header value for body signed with secret.
func Sign(secret, body []byte) string {
	return prefix + hex.EncodeToString(mac(secret, body))
}

// Verify reports whether header is body's signature with secret, comparing
// in constant time. An empty secret verifies nothing.
func Verify(secret, body []byte, header string) bool {
	sig, ok := strings.CutPrefix(header, prefix)
	if !ok || len(secret) == 0 {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(secret, body))
}

func mac(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}
