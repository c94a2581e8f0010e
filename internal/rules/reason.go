package rules

// Reason is one way a file breaks a partner's rules: Message says it to
// people (the record, the notification, the UI) and Class names its kind
// from a fixed set, for counting.
type Reason struct {
	Class   string
	Message string
}

// Reason classes. They are metric label values and travel in workflow
// histories (activities.Violation): never rename one.
const (
	// ClassName: the key itself — too long for S3, not UTF-8 or not in
	// normal form C, control characters, "." or ".." segments.
	ClassName = "name"
	// ClassNamePattern: the name does not match the partner's name_pattern.
	ClassNamePattern = "name_pattern"
	// ClassExtension: the extension is not one the partner may send.
	ClassExtension = "extension"
	// ClassEmpty: the file has no bytes.
	ClassEmpty = "empty"
	// ClassSize: under the partner's minimum or over its maximum.
	ClassSize = "size"
	// ClassSignature: the first bytes are another format than the
	// extension promises (an executable renamed .csv, a .pdf that is not).
	ClassSignature = "signature"
	// ClassEncoding: a text file that is not text in the partner's
	// encoding (invalid bytes, NUL bytes).
	ClassEncoding = "encoding"
	// ClassSidecarMissing: the checksum sidecar did not arrive in time.
	ClassSidecarMissing = "sidecar_missing"
	// ClassSidecarInvalid: the sidecar is unusable (unreadable, too
	// large, names another file).
	ClassSidecarInvalid = "sidecar_invalid"
	// ClassSidecarMismatch: the sidecar's SHA-256 is not the file's.
	ClassSidecarMismatch = "sidecar_mismatch"
	// ClassMalware: the malware scanner found a signature in the file.
	ClassMalware = "malware"
	// ClassUnscanned: the file is larger than the scanner accepts and the
	// partner's policy does not deliver unscanned files.
	ClassUnscanned = "unscanned"
	// ClassEncrypted: the file is PGP-encrypted and Ferry holds no key
	// for the partner, or it is not encrypted and the partner must encrypt.
	ClassEncrypted = "encrypted"
	// ClassDecryption: the file could not be decrypted (encrypted to
	// another key, corrupt, truncated, or more plaintext than allowed).
	ClassDecryption = "decryption"
	// ClassPGPSignature: the PGP signature the partner's policy requires
	// is missing, does not verify, or is not the partner's.
	ClassPGPSignature = "pgp_signature"
	// ClassBatch: the file's batch (internal/batch) was incomplete or did
	// not match its manifest when its timeout passed.
	ClassBatch = "batch"
)

// ReasonClasses are all the classes, the bounded set of their label.
var ReasonClasses = []string{
	ClassName, ClassNamePattern, ClassExtension, ClassEmpty, ClassSize, ClassSignature, ClassEncoding,
	ClassSidecarMissing, ClassSidecarInvalid, ClassSidecarMismatch,
	ClassMalware, ClassUnscanned, ClassEncrypted, ClassDecryption, ClassPGPSignature, ClassBatch,
}

// Messages are the reasons' messages, in order.
func Messages(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Message
	}
	return out
}

// Classes are the reasons' classes, in order.
func Classes(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Class
	}
	return out
}
