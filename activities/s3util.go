package activities

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// isNotFound reports whether S3 said the object or version does not exist.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NoSuchVersion", "NotFound":
			return true
		}
	}
	// HEAD responses carry no error body, only the status.
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

// isPreconditionFailed reports an If-Match that no longer holds: for an
// unversioned bucket, the object was overwritten since the event.
func isPreconditionFailed(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed
}

// versionPtr returns nil for an unversioned object so no versionId is sent.
func versionPtr(v string) *string {
	if v == "" || v == "null" {
		return nil
	}
	return &v
}

// etagCondition pins an unversioned object to the ETag its event named, so
// an overwrite between event and read is detected rather than read.
func etagCondition(f FileRef) *string {
	if versionPtr(f.VersionID) != nil || f.ETag == "" {
		return nil
	}
	e := `"` + strings.Trim(f.ETag, `"`) + `"`
	return &e
}

func orETag(f FileRef) string {
	if versionPtr(f.VersionID) != nil {
		return f.VersionID
	}
	return "etag " + f.ETag
}

// copySource builds CopyObject's x-amz-copy-source: bucket/key with the key
// URL-encoded segment by segment, pinned to the version when there is one.
// A '+', which PathEscape leaves as it is, is encoded too: a server that
// decodes the header as a query string (versitygw does) reads a bare '+'
// as a space and copies another key, while %2B is '+' to every decoder
// (AWS's own SDKs send it so: botocore keeps only -._~/ unencoded).
func copySource(f FileRef) string {
	segs := strings.Split(f.Key, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), "+", "%2B")
	}
	src := f.Bucket + "/" + strings.Join(segs, "/")
	if v := versionPtr(f.VersionID); v != nil {
		src += "?versionId=" + url.QueryEscape(*v)
	}
	return src
}

// isBadRequest reports an HTTP 400 from S3: the request itself is invalid
// for that bucket (missing Object Lock, unknown KMS key, bad argument).
func isBadRequest(err error) bool {
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusBadRequest
}
