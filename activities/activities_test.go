//go:build integration

package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/rules"
	"github.com/ferrydata/ferry/internal/stacktest"
)

type fixture struct {
	stack *stacktest.Stack
	acts  *activities.Activities
	env   *testsuite.TestActivityEnvironment
	src   string // a fresh versioned bucket standing in for landing
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	st := stacktest.Require(t, stacktest.S3, stacktest.DynamoDB)
	a := &activities.Activities{S3: st.AWS.S3, Files: st.FilesTable(t)}
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return &fixture{stack: st, acts: a, env: env, src: st.Bucket(t, false)}
}

// put stores body under key and returns the version ID.
func (f *fixture) put(t testing.TB, key string, body []byte) string {
	t.Helper()
	out, err := f.stack.AWS.S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(f.src), Key: aws.String(key), Body: bytes.NewReader(body),
	})
	if err != nil {
		t.Fatalf("putting %s: %v", key, err)
	}
	return aws.ToString(out.VersionId)
}

func (f *fixture) ref(key, version string) activities.FileRef {
	return activities.FileRef{FileID: stacktest.Unique("ingest-acme-"), Partner: "acme", Bucket: f.src, Key: key, VersionID: version}
}

func (f *fixture) inspect(t testing.TB, ref activities.FileRef, r rules.Rules) (*activities.InspectResult, error) {
	t.Helper()
	return f.inspectInput(t, &activities.InspectInput{File: ref, Rules: r})
}

func (f *fixture) inspectInput(t testing.TB, in *activities.InspectInput) (*activities.InspectResult, error) {
	t.Helper()
	return inspected(t)(f.env.ExecuteActivity(activities.InspectName, in))
}

// inspected decodes an executed Inspect's result.
func inspected(t testing.TB) func(converter.EncodedValue, error) (*activities.InspectResult, error) {
	return func(v converter.EncodedValue, err error) (*activities.InspectResult, error) {
		t.Helper()
		if err != nil {
			return nil, err
		}
		var res activities.InspectResult
		if err := v.Get(&res); err != nil {
			t.Fatal(err)
		}
		return &res, nil
	}
}

var (
	csvRules = rules.Rules{AllowedExtensions: []string{".csv"}, MaxSizeBytes: 1 << 20}
	rulesAny = rules.Rules{}
)

func TestInspectReadsOnceAndComputesChecksums(t *testing.T) {
	f := newFixture(t)
	body := bytes.Repeat([]byte("id,qty\n1,5\n"), 300_000) // 3.3 MB, several read buffers
	key := "acme/inbound/orders.csv"
	ver := f.put(t, key, body)

	res, err := f.inspect(t, f.ref(key, ver), rules.Rules{AllowedExtensions: []string{".csv"}})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if res.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA-256 %s, want %x", res.SHA256, sum)
	}
	if res.Size != int64(len(body)) || res.BytesRead != int64(len(body)) {
		t.Errorf("size %d, bytes read %d; want %d for both (one read)", res.Size, res.BytesRead, len(body))
	}
	if !strings.HasPrefix(res.ContentType, "text/plain") {
		t.Errorf("content type %q", res.ContentType)
	}
	// aws-sdk-go-v2 uploads with a CRC32 checksum and MinIO stores it:
	// inspection must have verified the bytes against it.
	if res.S3ChecksumAlgorithm == "" || res.S3Checksum == "" {
		t.Errorf("no S3 checksum verified: %+v", res)
	}
}

func TestInspectReadsTheEventsVersionNotTheLatest(t *testing.T) {
	f := newFixture(t)
	key := "acme/inbound/orders.csv"
	v1 := f.put(t, key, []byte("version,1\n"))
	f.put(t, key, []byte("version,2 is longer\n"))

	res, err := f.inspect(t, f.ref(key, v1), csvRules)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("version,1\n"))
	if res.SHA256 != hex.EncodeToString(want[:]) {
		t.Fatalf("inspected the overwriting version, not the one the event named")
	}
}

func TestInspectRefusesRuleBreakers(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, key   string
		body        []byte
		want, class string
	}{
		{"empty", "acme/inbound/empty.csv", nil, "file is empty (0 bytes)", rules.ClassEmpty},
		{"disallowed extension", "acme/inbound/tool.exe", []byte("MZ\x90\x00"), "extension .exe is not allowed", rules.ClassExtension},
		{"too large", "acme/inbound/big.csv", bytes.Repeat([]byte("x"), 1<<20+1), "over this partner's maximum of 1048576 bytes", rules.ClassSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ver := f.put(t, tt.key, tt.body)
			_, err := f.inspect(t, f.ref(tt.key, ver), csvRules)
			app := appErr(t, err, activities.ErrRuleViolation)
			var v activities.Violation
			if err := app.Details(&v); err != nil {
				t.Fatal(err)
			}
			if len(v.Reasons) == 0 || !strings.Contains(v.Reasons[0], tt.want) {
				t.Fatalf("reasons %v, want one containing %q", v.Reasons, tt.want)
			}
			// Each reason travels with its class, which metrics count by.
			if len(v.Classes) != len(v.Reasons) || v.Classes[0] != tt.class {
				t.Fatalf("classes %v of reasons %v, want one each, the first %q", v.Classes, v.Reasons, tt.class)
			}
			// Read all the same: an approver who releases the file signs
			// these bytes, and its quarantine copy is checked against them.
			sum := sha256.Sum256(tt.body)
			if got, want := v.Result.SHA256, hex.EncodeToString(sum[:]); got != want || v.Result.BytesRead != int64(len(tt.body)) {
				t.Fatalf("violation result SHA-256 %q after %d bytes, want %q after %d", got, v.Result.BytesRead, want, len(tt.body))
			}
		})
	}
}

func TestInspectVanishedVersion(t *testing.T) {
	f := newFixture(t)
	key := "acme/inbound/gone.csv"
	ver := f.put(t, key, []byte("a,b\n"))
	if _, err := f.stack.AWS.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{
		Bucket: aws.String(f.src), Key: aws.String(key), VersionId: aws.String(ver),
	}); err != nil {
		t.Fatal(err)
	}
	_, err := f.inspect(t, f.ref(key, ver), csvRules)
	app := appErr(t, err, activities.ErrObjectVanished)
	if !strings.Contains(app.Message(), "vanished before inspection") {
		t.Fatalf("message %q does not say what happened", app.Message())
	}
}

func (f *fixture) deliver(t *testing.T, in *activities.DeliverInput) (*activities.DeliverResult, error) {
	t.Helper()
	v, err := f.env.ExecuteActivity(activities.DeliverName, in)
	if err != nil {
		return nil, err
	}
	var res activities.DeliverResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	return &res, nil
}

func TestDeliverCopiesVerifiesAndIsIdempotent(t *testing.T) {
	f := newFixture(t)
	dest := f.stack.Bucket(t, true) // versioned with Object Lock, like delivered
	body := []byte("id,name\n1,Zoë\n")
	key := "acme/inbound/sub dir/Résumé+1.csv"
	ref := f.ref(key, f.put(t, key, body))
	insp, err := f.inspect(t, ref, csvRules)
	if err != nil {
		t.Fatal(err)
	}
	in := &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/sub dir/Résumé+1.csv"}

	first, err := f.deliver(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if first.DestVersionID == "" || first.Reused {
		t.Fatalf("first delivery = %+v", first)
	}
	obj, err := f.stack.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{
		Bucket: aws.String(dest), Key: aws.String(in.DestKey), VersionId: aws.String(first.DestVersionID),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("delivered bytes %q, want %q", got, body)
	}
	if obj.Metadata["ferry-sha256"] != insp.SHA256 || obj.Metadata["ferry-file-id"] != ref.FileID {
		t.Errorf("delivered metadata %v", obj.Metadata)
	}

	// A retried attempt (the worker died after the copy) must not write a
	// second version.
	second, err := f.deliver(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Reused || second.DestVersionID != first.DestVersionID {
		t.Fatalf("retry = %+v, want the first version %s reused", second, first.DestVersionID)
	}
	vers, err := f.stack.AWS.S3.ListObjectVersions(context.Background(), &s3.ListObjectVersionsInput{Bucket: aws.String(dest), Prefix: aws.String(in.DestKey)})
	if err != nil {
		t.Fatal(err)
	}
	if len(vers.Versions) != 1 {
		t.Fatalf("destination has %d versions after a retried delivery, want 1", len(vers.Versions))
	}
}

func TestDeliverVerificationFailureIsLoud(t *testing.T) {
	f := newFixture(t)
	dest := f.stack.Bucket(t, false)
	key := "acme/inbound/a.csv"
	ref := f.ref(key, f.put(t, key, []byte("a,b\n")))
	insp, err := f.inspect(t, ref, csvRules)
	if err != nil {
		t.Fatal(err)
	}
	insp.Size++ // what inspection read disagrees with what lands
	_, err = f.deliver(t, &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/a.csv"})
	app := appErr(t, err, activities.ErrDeliveryVerification)
	if !strings.Contains(app.Message(), "has size 4, expected 5") {
		t.Fatalf("message %q", app.Message())
	}
}

func TestDeliverVanishedSource(t *testing.T) {
	f := newFixture(t)
	dest := f.stack.Bucket(t, false)
	// A version S3 issued and then deleted: an ID S3 never issued is a
	// malformed one to servers whose IDs have a format (versitygw answers
	// 400 Invalid version id), not a vanished object.
	key := "acme/inbound/a.csv"
	ref := f.ref(key, f.put(t, key, []byte("a,b\n")))
	if _, err := f.stack.AWS.S3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(f.src), Key: aws.String(key), VersionId: aws.String(ref.VersionID)}); err != nil {
		t.Fatal(err)
	}
	_, err := f.deliver(t, &activities.DeliverInput{File: ref, Inspection: activities.InspectResult{Size: 4}, DestBucket: dest, DestKey: "acme/a.csv"})
	appErr(t, err, activities.ErrObjectVanished)
}

func TestRecordStatusConflictIsNotRetried(t *testing.T) {
	f := newFixture(t)
	ref := f.ref("acme/inbound/a.csv", "v1")
	if _, err := f.env.ExecuteActivity(activities.RecordReceivedName, &activities.RecordReceivedInput{File: ref}); err != nil {
		t.Fatal(err)
	}
	_, err := f.env.ExecuteActivity(activities.RecordStatusName, &activities.RecordStatusInput{
		FileID: ref.FileID, Change: filestore.Change{Status: filestatus.Approved},
	})
	app := appErr(t, err, activities.ErrStatusConflict)
	if !strings.Contains(app.Message(), "is received; refusing to move it to approved") {
		t.Fatalf("message %q", app.Message())
	}
}
