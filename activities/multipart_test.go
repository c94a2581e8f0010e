//go:build integration

package activities_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/governance"
)

// Small parts make the local stack copy in parts with small files.
var smallParts = ingest.CopyOptions{MultipartThresholdBytes: 8 << 20, PartSizeBytes: 5 << 20, Concurrency: 2}

func randomBody(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) readBack(t *testing.T, bucket, key, version string) *s3.GetObjectOutput {
	t.Helper()
	obj, err := f.stack.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), VersionId: aws.String(version)})
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestDeliverCopiesLargeObjectsInParts(t *testing.T) {
	f := newFixture(t)
	dest := f.stack.Bucket(t, true)
	body := randomBody(t, 23<<20) // 5 parts of 5 MiB, the last one short
	ref := f.ref("acme/inbound/big.bin", f.put(t, "acme/inbound/big.bin", body))
	insp, err := f.inspect(t, ref, rulesAny)
	if err != nil {
		t.Fatal(err)
	}
	gov := f.kms()
	gov.RetentionMode, gov.RetentionDays = governance.Governance, 1
	res, err := f.deliver(t, &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/big.bin", Governance: gov, Copy: smallParts})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Multipart || res.PartsResumed != 0 || res.Encryption != f.kmsReported() || res.RetentionMode != governance.Governance {
		t.Fatalf("result %+v, want multipart, nothing resumed, encryption %q, retention %s", res, f.kmsReported(), governance.Governance)
	}
	obj := f.readBack(t, dest, "acme/big.bin", res.DestVersionID)
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatal("the multipart copy's bytes differ from the source")
	}
	if obj.PartsCount == nil && !strings.HasSuffix(strings.Trim(aws.ToString(obj.ETag), `"`), "-5") {
		t.Errorf("delivered object does not look multipart: ETag %s", aws.ToString(obj.ETag))
	}
}

// faultyTransport lets the first n part copies through and then breaks the
// connection, as a network fault or a dying worker would.
type faultyTransport struct {
	allowed int32
	parts   atomic.Int32
}

func (ft *faultyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	q := r.URL.Query()
	if r.Method == http.MethodPut && q.Has("partNumber") && q.Has("uploadId") && ft.parts.Add(1) > ft.allowed {
		return nil, errors.New("connection reset by peer (injected)")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func TestMultipartCopyResumesTheUploadAfterAFailedAttempt(t *testing.T) {
	f := newFixture(t)
	dest := f.stack.Bucket(t, false)
	body := randomBody(t, 31<<20) // 7 parts
	ref := f.ref("acme/inbound/big.bin", f.put(t, "acme/inbound/big.bin", body))
	insp, err := f.inspect(t, ref, rulesAny)
	if err != nil {
		t.Fatal(err)
	}
	in := &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/big.bin", Copy: ingest.CopyOptions{MultipartThresholdBytes: 8 << 20, PartSizeBytes: 5 << 20, Concurrency: 1}, MaxAttempts: 10, Governance: f.kms()}

	// Attempt 1: the network breaks after two parts.
	broken := &activities.Activities{S3: s3.New(f.stack.AWS.S3.Options(), func(o *s3.Options) {
		o.HTTPClient = &http.Client{Transport: &faultyTransport{allowed: 2}}
		o.Retryer = aws.NopRetryer{}
	}), Files: f.acts.Files}
	var ts testsuite.WorkflowTestSuite
	env1 := ts.NewTestActivityEnvironment()
	env1.RegisterActivity(broken)
	var last converter.EncodedValues
	env1.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) { last = details })
	if _, err := env1.ExecuteActivity(activities.DeliverName, in); err == nil {
		t.Fatal("the attempt with a broken network succeeded")
	} else {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.NonRetryable() {
			t.Fatalf("a network fault must be retryable: %v", err)
		}
	}
	var progress activities.CopyProgress
	if last == nil || last.Get(&progress) != nil || progress.UploadID == "" {
		t.Fatalf("no upload ID was heartbeated before the fault: %+v", progress)
	}
	// The upload was not aborted: a retry will continue it.
	if _, err := f.stack.AWS.S3.ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String(dest), Key: aws.String("acme/big.bin"), UploadId: aws.String(progress.UploadID)}); err != nil {
		t.Fatalf("the failed attempt's upload is gone: %v", err)
	}

	// Attempt 2, on a healthy network, with attempt 1's last heartbeat.
	env2 := ts.NewTestActivityEnvironment()
	env2.RegisterActivity(f.acts)
	env2.SetHeartbeatDetails(progress)
	v, err := env2.ExecuteActivity(activities.DeliverName, in)
	if err != nil {
		t.Fatal(err)
	}
	var res activities.DeliverResult
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.PartsResumed != 2 {
		t.Fatalf("resumed %d parts, want the 2 the first attempt finished", res.PartsResumed)
	}
	obj := f.readBack(t, dest, "acme/big.bin", res.DestVersionID)
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatal("the resumed copy's bytes differ from the source")
	}
}

// Every copying activity's last attempt cleans up its multipart upload.
func TestMultipartCopyIsAbortedWhenItGivesUp(t *testing.T) {
	f := newFixture(t)
	body := randomBody(t, 12<<20)
	ref := f.ref("acme/inbound/big.bin", f.put(t, "acme/inbound/big.bin", body))
	insp, err := f.inspect(t, ref, rulesAny)
	if err != nil {
		t.Fatal(err)
	}
	for name, input := range map[string]func(dest string) any{
		activities.DeliverName: func(dest string) any {
			return &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/big.bin", Copy: smallParts, MaxAttempts: 1}
		},
		activities.QuarantineName: func(dest string) any {
			return &activities.QuarantineInput{File: ref, Bucket: dest, Key: "acme/big.bin", SHA256: insp.SHA256, Size: insp.Size, Copy: smallParts, MaxAttempts: 1}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dest := f.stack.Bucket(t, false)
			broken := &activities.Activities{S3: s3.New(f.stack.AWS.S3.Options(), func(o *s3.Options) {
				o.HTTPClient = &http.Client{Transport: &faultyTransport{allowed: 1}}
				o.Retryer = aws.NopRetryer{}
			}), Files: f.acts.Files}
			var ts testsuite.WorkflowTestSuite
			env := ts.NewTestActivityEnvironment()
			env.RegisterActivity(broken)
			// MaxAttempts 1: this attempt is the last, so it must clean up.
			if _, err := env.ExecuteActivity(name, input(dest)); err == nil {
				t.Fatal("expected the copy to fail")
			}
			ups, err := f.stack.AWS.S3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(dest)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Fatalf("%d multipart uploads left behind after the last attempt", len(ups.Uploads))
			}
		})
	}
}
