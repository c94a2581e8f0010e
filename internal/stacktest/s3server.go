package stacktest

import (
	"fmt"
	"os"
	"path/filepath"
)

// S3Server names an S3 implementation the test binary's own S3 can be.
// Ferry uses only the S3 API, so its S3 tests must pass on any server that
// implements what it calls; where servers differ in what they report (for
// example whether SSE-KMS was applied), a test says per server what a user
// sees.
type S3Server string

const (
	// MinIO is the pinned MinIO, with its built-in KMS holding KMSKeyID:
	// SSE-S3 and SSE-KMS are applied and reported. The default, and what
	// the local stack (stacktest.Ferry) always runs.
	MinIO S3Server = "minio"
	// VersityGW is versitygw v1.8.0's posix backend with versioning (a
	// --versioning-dir): versioning, Object Lock retention, the CRC32,
	// CRC32C and SHA256 checksums, UploadPartCopy. It has no KMS and
	// accepts SSE headers without applying them: HeadObject reports no
	// server-side encryption.
	VersityGW S3Server = "versitygw"
)

// S3ServerEnv is the environment variable that selects the test binary's
// own S3 for one run of it: unset or "minio" for MinIO, "versitygw" for
// versitygw. deploy/local/test.sh runs the S3 tests once with each.
const S3ServerEnv = "FERRY_TEST_S3"

// selectedS3 is the S3 server S3ServerEnv selects.
func selectedS3() (S3Server, error) {
	switch v := os.Getenv(S3ServerEnv); S3Server(v) {
	case "", MinIO:
		return MinIO, nil
	case VersityGW:
		return VersityGW, nil
	default:
		return "", fmt.Errorf("%s=%q names no S3 server stacktest runs: leave it unset (or %q) for MinIO, or set it to %q", S3ServerEnv, v, MinIO, VersityGW)
	}
}

// versitygwArgs starts versitygw on addr with the root keys the AWS
// clients use and its posix backend under dir: objects in data/, older
// versions in versions/ (which must lie outside data/), metadata in
// extended attributes (its default; it checks at start that dir's file
// system has them). /health answers unauthenticated, for the readiness
// check.
func versitygwArgs(bin, addr, dir string) (args []string, ready func() error, err error) {
	data, versions := filepath.Join(dir, "data"), filepath.Join(dir, "versions")
	for _, d := range []string{data, versions} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, err
		}
	}
	args = []string{bin, "--port", addr, "--health", "/health", "--quiet", "posix", "--versioning-dir", versions, data}
	return args, func() error { return httpOK("http://" + addr + "/health") }, nil
}
