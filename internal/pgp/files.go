package pgp

import "strings"

// Key pair files follow one naming rule, like OpenSSH's id_ed25519 and
// id_ed25519.pub: the public part of NAME.key.asc is NAME.pub.asc. The
// local stack's provisioner writes keys so, and tests and the README find
// them so.

// PublicKeyFile names the public part of a private key file.
func PublicKeyFile(privateKeyFile string) string {
	return strings.TrimSuffix(strings.TrimSuffix(privateKeyFile, ".asc"), ".key") + ".pub.asc"
}

// PrivateKeyFile names the private part of a public key file.
func PrivateKeyFile(publicKeyFile string) string {
	return strings.TrimSuffix(strings.TrimSuffix(publicKeyFile, ".asc"), ".pub") + ".key.asc"
}
