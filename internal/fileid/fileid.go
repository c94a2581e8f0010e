// Package fileid derives the identity of one uploaded object version: the
// Temporal workflow ID that makes every duplicate or replayed event for the
// same version land on the same workflow, and the DynamoDB key of its record.
package fileid

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// WorkflowID returns the IngestFile workflow ID for one object version:
//
//	ingest-<partner>-<first 32 hex digits of SHA-256(bucket NUL key NUL version)>
//
// version is the S3 version ID; for an unversioned bucket pass "etag:" plus
// the ETag (see VersionOrETag). The key is hashed rather than embedded
// because keys may be 1,024 bytes of arbitrary UTF-8, which would make IDs
// unwieldy to paste into `temporal workflow signal`; operators find a file by
// key with the ObjectKey search attribute instead. The partner stays
// readable so that IDs in logs and the UI say whose file it is.
func WorkflowID(partner, bucket, key, version string) string {
	h := sha256.New()
	h.Write([]byte(bucket))
	h.Write([]byte{0})
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(version))
	return "ingest-" + partner + "-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// VersionOrETag returns what identifies one version of an object: the
// version ID where the bucket is versioned, else the ETag (quotes removed)
// prefixed with "etag:" so the two can never collide.
func VersionOrETag(versionID, etag string) string {
	if versionID != "" && versionID != "null" {
		return versionID
	}
	return "etag:" + strings.Trim(etag, `"`)
}

// Partner returns the partner named by a workflow ID that WorkflowID made,
// or "" for any other ID. Partner names may hold '-', so the partner is
// everything between "ingest-" and the last '-' before the 32 hex digits.
func Partner(id string) string {
	rest, ok := strings.CutPrefix(id, "ingest-")
	i := strings.LastIndexByte(rest, '-')
	if !ok || i <= 0 || !isHex32(rest[i+1:]) {
		return ""
	}
	return rest[:i]
}

func isHex32(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
