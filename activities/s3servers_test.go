//go:build integration

package activities_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// These tests run on every S3 server stacktest runs (FERRY_TEST_S3), and
// say per server what a user sees where the servers differ.

// appliesEncryption says whether the S3 under test encrypts what Ferry
// asks it to. MinIO, with its KMS, applies SSE-S3 and SSE-KMS and reports
// them; versitygw accepts the headers, stores the bytes as they are and
// reports no encryption, so Deliver refuses the version.
func (f *fixture) appliesEncryption() bool { return f.stack.S3Server != stacktest.VersityGW }

// kms is SSE-KMS with the test KMS's key where the S3 under test applies
// it, and no encryption where it does not: the copying tests check the
// copy on every server, TestDeliverAppliesAndVerifiesGovernance what each
// server does with encryption.
func (f *fixture) kms() governance.Policy {
	if !f.appliesEncryption() {
		return governance.Policy{}
	}
	return governance.Policy{Encryption: governance.SSEKMS, KMSKeyID: stacktest.KMSKeyID}
}

// kmsReported is the encryption S3 reports for a delivery with kms().
func (f *fixture) kmsReported() string {
	if !f.appliesEncryption() {
		return ""
	}
	return string(types.ServerSideEncryptionAwsKms)
}

// wantEncryptionRefused delivers in, whose governance asks for encryption
// the S3 under test does not apply, and checks what the operator and an
// auditor see: the delivery fails verification saying what was asked,
// what S3 reported and what to do; the copy S3 holds is unencrypted, as
// S3 says, and nothing claims otherwise; a retry re-verifies that copy
// and fails the same way instead of passing it or copying again.
func (f *fixture) wantEncryptionRefused(t *testing.T, in *activities.DeliverInput) {
	t.Helper()
	gov := in.Governance
	asked := "asked for " + gov.Encryption
	if gov.Encryption == governance.SSEKMS {
		asked = "asked for SSE-KMS (aws:kms) with key " + gov.KMSKeyID
	}
	for attempt := 1; attempt <= 2; attempt++ {
		res, err := f.deliver(t, in)
		if err == nil {
			t.Fatalf("attempt %d: a delivery asking %s passed on %s, which does not apply it: %+v", attempt, gov.Encryption, f.stack.S3Server, res)
		}
		msg := appErr(t, err, activities.ErrDeliveryVerification).Message()
		for _, want := range []string{
			"delivered s3://" + in.DestBucket + "/" + in.DestKey + " version ",
			asked,
			"S3 reports no server-side encryption",
			"this S3 does not apply " + gov.Encryption + ": use an S3 that does, or change partners." + in.File.Partner + ".governance.encryption",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("attempt %d: message %q does not say %q", attempt, msg, want)
			}
		}
	}
	vers, err := f.stack.AWS.S3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(in.DestBucket), Prefix: aws.String(in.DestKey)})
	if err != nil {
		t.Fatal(err)
	}
	if len(vers.Versions) != 1 {
		t.Fatalf("%d versions after a refused delivery and its retry, want the one copy, re-verified", len(vers.Versions))
	}
	head, err := f.stack.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(in.DestBucket), Key: aws.String(in.DestKey), VersionId: vers.Versions[0].VersionId})
	if err != nil {
		t.Fatal(err)
	}
	if head.ServerSideEncryption != "" || head.Metadata["ferry-file-id"] != in.File.FileID {
		t.Fatalf("the refused copy reports encryption %q and file %q; want none, and this delivery's file %s", head.ServerSideEncryption, head.Metadata["ferry-file-id"], in.File.FileID)
	}
}

// Inspection verifies the bytes against the checksum S3 stored, whichever
// algorithm the uploader chose, and the delivered version keeps it.
func TestInspectVerifiesTheChecksumS3Stored(t *testing.T) {
	f := newFixture(t)
	dest := f.stack.Bucket(t, false)
	for _, alg := range []types.ChecksumAlgorithm{
		types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha256,
		types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmCrc64nvme,
	} {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			key := "acme/inbound/" + strings.ToLower(string(alg)) + ".csv"
			put, err := f.stack.AWS.S3.PutObject(ctx, &s3.PutObjectInput{
				Bucket: aws.String(f.src), Key: aws.String(key), Body: bytes.NewReader(textRows(20_000)), ChecksumAlgorithm: alg,
			})
			if err != nil {
				t.Fatal(err)
			}
			stored := map[types.ChecksumAlgorithm]*string{
				types.ChecksumAlgorithmCrc32: put.ChecksumCRC32, types.ChecksumAlgorithmCrc32c: put.ChecksumCRC32C,
				types.ChecksumAlgorithmSha256: put.ChecksumSHA256, types.ChecksumAlgorithmSha1: put.ChecksumSHA1,
				types.ChecksumAlgorithmCrc64nvme: put.ChecksumCRC64NVME,
			}[alg]
			if aws.ToString(stored) == "" {
				t.Fatalf("%s stored no %s checksum for the upload (PutObject answered %+v)", f.stack.S3Server, alg, put)
			}
			ref := f.ref(key, aws.ToString(put.VersionId))
			insp, err := f.inspect(t, ref, csvRules)
			if err != nil {
				t.Fatal(err)
			}
			if insp.S3ChecksumAlgorithm != string(alg) || insp.S3Checksum != *stored {
				t.Fatalf("inspection verified %s %q, want the stored %s %q", insp.S3ChecksumAlgorithm, insp.S3Checksum, alg, *stored)
			}
			res, err := f.deliver(t, &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: key})
			if err != nil {
				t.Fatal(err)
			}
			head, err := f.stack.AWS.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(dest), Key: aws.String(key), VersionId: aws.String(res.DestVersionID), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			if got := map[types.ChecksumAlgorithm]*string{
				types.ChecksumAlgorithmCrc32: head.ChecksumCRC32, types.ChecksumAlgorithmCrc32c: head.ChecksumCRC32C,
				types.ChecksumAlgorithmSha256: head.ChecksumSHA256, types.ChecksumAlgorithmSha1: head.ChecksumSHA1,
				types.ChecksumAlgorithmCrc64nvme: head.ChecksumCRC64NVME,
			}[alg]; aws.ToString(got) != *stored {
				t.Fatalf("the delivered version reports %s %q, want the source's %q", alg, aws.ToString(got), *stored)
			}
		})
	}
}

// A destination without versioning gives a delivery no version of its
// own (the next one to the key overwrites it) and the record none to
// name: the delivery fails verification saying so.
func TestDeliverRefusesADestinationWithoutVersioning(t *testing.T) {
	f := newFixture(t)
	key := "acme/inbound/a.csv"
	ref := f.ref(key, f.put(t, key, []byte("a,b\n")))
	insp, err := f.inspect(t, ref, csvRules)
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []types.BucketVersioningStatus{"", types.BucketVersioningStatusSuspended} {
		name := "never enabled"
		if status != "" {
			name = string(status)
		}
		t.Run(name, func(t *testing.T) {
			dest := f.stack.UnversionedBucket(t, status)
			_, err := f.deliver(t, &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/a.csv"})
			msg := appErr(t, err, activities.ErrDeliveryVerification).Message()
			want := "delivered s3://" + dest + "/acme/a.csv: asked for a new object version, S3 reports no version ID: versioning is off or suspended on bucket " + dest + "; enable it"
			if !strings.Contains(msg, want) {
				t.Fatalf("message %q, want it to say %q", msg, want)
			}
		})
	}
}
