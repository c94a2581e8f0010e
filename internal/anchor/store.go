package anchor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// Store writes and reads anchor objects in one Object Lock bucket.
type Store struct {
	S3     *s3.Client
	Bucket string
	// RetentionDays is each object's COMPLIANCE retention.
	RetentionDays int
	// Key signs anchors and is required to accept them; empty: hashed
	// only (anyone who can write to the bucket could add one).
	Key []byte
	Now func() time.Time
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// put writes one anchor object locked in COMPLIANCE mode until the
// retention ends. It does not replace an object already at key
// (If-None-Match): written is false then. In a versioned bucket a plain
// put would add a version; the first one stays locked all the same, and
// Check reads every version, but anchors need no second version.
func (s *Store) put(ctx context.Context, key string, body []byte) (written bool, err error) {
	_, err = s.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentType: aws.String("application/json"), IfNoneMatch: aws.String("*"),
		ObjectLockMode:            types.ObjectLockModeCompliance,
		ObjectLockRetainUntilDate: aws.Time(s.now().AddDate(0, 0, s.RetentionDays)),
	})
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "PreconditionFailed" || httpStatus(err) == http.StatusPreconditionFailed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("writing anchor s3://%s/%s (a bucket with Object Lock enabled? the worker allowed s3:PutObject and s3:PutObjectRetention?): %w", s.Bucket, key, err)
	}
	return true, nil
}

// AnchorFile anchors one file's head (by names the writer) and returns
// the object's key. A head anchored already is left as it is.
func (s *Store) AnchorFile(ctx context.Context, h Head, by string) (string, error) {
	return s.anchorFile(ctx, h, by, "")
}

func (s *Store) anchorFile(ctx context.Context, h Head, by, checkpoint string) (string, error) {
	if h.FileID == "" || h.Seq < 1 || h.Hash == "" {
		return "", fmt.Errorf("anchoring %q: a head needs a file ID, a sequence number and a hash, got %+v", h.FileID, h)
	}
	key := FileKey(h.FileID, h.Seq)
	body, err := Seal(Document{Format: 1, Kind: KindFile, WrittenAt: s.now().UTC(), By: by, Heads: []Head{h}, Checkpoint: checkpoint}, s.Key)
	if err != nil {
		return "", err
	}
	_, err = s.put(ctx, key, body)
	return key, err
}

// Stored is one anchor object version read back.
type Stored struct {
	Key, VersionID string
	LastModified   time.Time
	// Opened is the document; Err says why it is not genuine (then
	// Opened is empty).
	Opened Opened
	Err    error
	// SHA256 is the body's, for chaining checkpoints.
	SHA256 string
}

// FileAnchors reads every version of every anchor of a file, oldest
// first. An object that is not genuine is returned with its Err.
func (s *Store) FileAnchors(ctx context.Context, fileID string) ([]Stored, error) {
	var out []Stored
	p := s3.NewListObjectVersionsPaginator(s.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(s.Bucket), Prefix: aws.String(filePrefix(fileID))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing the anchors of %s in s3://%s: %w", fileID, s.Bucket, err)
		}
		for _, v := range page.Versions {
			st, err := s.read(ctx, aws.ToString(v.Key), aws.ToString(v.VersionId))
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
		// A delete marker hides the object from plain reads but cannot
		// remove a locked version; the versions above are what counts.
	}
	// S3 lists each key's versions newest first, and LastModified has
	// one-second precision: reverse the listing, then order by key only.
	slices.Reverse(out)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// read gets one object version and opens it.
func (s *Store) read(ctx context.Context, key, versionID string) (Stored, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)}
	if versionID != "" && versionID != "null" {
		in.VersionId = aws.String(versionID)
	}
	out, err := s.S3.GetObject(ctx, in)
	if err != nil {
		return Stored{}, fmt.Errorf("reading anchor s3://%s/%s (version %s): %w", s.Bucket, key, versionID, err)
	}
	defer out.Body.Close()
	// An anchor is small; a checkpoint of many heads is bounded too.
	body, err := io.ReadAll(io.LimitReader(out.Body, 64<<20))
	if err != nil {
		return Stored{}, fmt.Errorf("reading anchor s3://%s/%s: %w", s.Bucket, key, err)
	}
	st := Stored{Key: key, VersionID: aws.ToString(out.VersionId), LastModified: aws.ToTime(out.LastModified), SHA256: sum(body)}
	st.Opened, st.Err = Open(body, s.Key)
	return st, nil
}

func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// CreateBucket creates an anchor bucket where none exists (the local
// stack's provision, tests; Terraform in AWS): versioned, Object Lock
// enabled, and a default COMPLIANCE retention of retentionDays for any
// object written without its own.
func CreateBucket(ctx context.Context, c *s3.Client, bucket string, retentionDays int) error {
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket), ObjectLockEnabledForBucket: aws.Bool(true)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("creating the anchor bucket %s: %w", bucket, err)
	}
	_, err = c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{
		Bucket: aws.String(bucket),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{
			ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{
				Mode: types.ObjectLockRetentionModeCompliance, Days: aws.Int32(int32(retentionDays)),
			}},
		},
	})
	if err != nil {
		return fmt.Errorf("setting the default COMPLIANCE retention of the anchor bucket %s (was it created without Object Lock? it cannot be added later): %w", bucket, err)
	}
	return nil
}
