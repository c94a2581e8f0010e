package landing

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferrydata/ferry/internal/s3event"
)

// PartnerPrefix is the prefix a partner uploads below: <partner>/inbound/.
func PartnerPrefix(partner string) string {
	return partner + "/" + InboundDir + "/"
}

// VersionLister is the part of the S3 client a listing uses.
type VersionLister interface {
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

// Version is one object version listed in landing.
type Version struct {
	Key, VersionID, ETag string
	Size                 int64
	LastModified         time.Time
}

// Object is the version as an upload's event would announce it, so that
// what a listing finds is planned exactly like what an event brings.
func (v Version) Object(bucket, principal, via string) s3event.Object {
	return s3event.Object{
		EventName: "ObjectCreated:Put", EventTime: v.LastModified, Bucket: bucket, Key: v.Key,
		VersionID: v.VersionID, ETag: v.ETag, Size: v.Size, Principal: principal, Via: via,
	}
}

// Page is one page of a landing listing.
type Page struct {
	Versions []Version
	// Truncated says more follow, from the Next markers.
	Truncated                        bool
	NextKeyMarker, NextVersionMarker string
}

// ListPage lists one page of the object versions below prefix (delete
// markers left out), with keys decoded. The reconciler lists page by page
// across workflow activities; a backfill lists every page at once.
func ListPage(ctx context.Context, api VersionLister, bucket, prefix, keyMarker, versionMarker string) (*Page, error) {
	out, err := api.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{
		Bucket: aws.String(bucket), Prefix: aws.String(prefix),
		KeyMarker: nonEmpty(keyMarker), VersionIdMarker: nonEmpty(versionMarker), MaxKeys: aws.Int32(500),
		// Keys may hold characters XML 1.0 cannot carry (a partner's key
		// with a control character): ask for them URL-encoded, or one such
		// key would make every listing of the prefix undecodable.
		EncodingType: types.EncodingTypeUrl,
	})
	if err != nil {
		return nil, fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
	}
	var p Page
	for _, v := range out.Versions {
		key, err := url.QueryUnescape(aws.ToString(v.Key))
		if err != nil {
			return nil, fmt.Errorf("decoding listed key %q: %w", aws.ToString(v.Key), err)
		}
		p.Versions = append(p.Versions, Version{Key: key, VersionID: aws.ToString(v.VersionId), ETag: aws.ToString(v.ETag), Size: aws.ToInt64(v.Size), LastModified: aws.ToTime(v.LastModified)})
	}
	if aws.ToBool(out.IsTruncated) {
		next, err := url.QueryUnescape(aws.ToString(out.NextKeyMarker))
		if err != nil {
			return nil, fmt.Errorf("decoding the next key marker: %w", err)
		}
		p.Truncated, p.NextKeyMarker, p.NextVersionMarker = true, next, aws.ToString(out.NextVersionIdMarker)
	}
	return &p, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
