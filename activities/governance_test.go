//go:build integration

package activities_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/rules"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestDeliverAppliesAndVerifiesGovernance(t *testing.T) {
	tests := []struct {
		name       string
		policy     governance.Policy
		encryption types.ServerSideEncryption
	}{
		{"SSE-KMS and compliance retention", governance.Policy{Encryption: governance.SSEKMS, KMSKeyID: stacktest.KMSKeyID, RetentionMode: governance.Compliance, RetentionDays: 1}, types.ServerSideEncryptionAwsKms},
		{"SSE-S3 and governance retention", governance.Policy{Encryption: governance.SSES3, RetentionMode: governance.Governance, RetentionDays: 30}, types.ServerSideEncryptionAes256},
		{"compliance retention alone", governance.Policy{RetentionMode: governance.Compliance, RetentionDays: 1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			dest := f.stack.Bucket(t, true)
			body := []byte("batch,qty\n7,100\n")
			ref := f.ref("acme/inbound/batch.csv", f.put(t, "acme/inbound/batch.csv", body))
			insp, err := f.inspect(t, ref, csvRules)
			if err != nil {
				t.Fatal(err)
			}
			in := &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/batch.csv", Governance: tt.policy}
			if tt.encryption != "" && !f.appliesEncryption() {
				f.wantEncryptionRefused(t, in)
				return
			}
			before := time.Now()
			res, err := f.deliver(t, in)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			// Read the controls back from S3 as an auditor would.
			ret, err := f.stack.AWS.S3.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: aws.String(dest), Key: aws.String("acme/batch.csv"), VersionId: aws.String(res.DestVersionID)})
			if err != nil {
				t.Fatalf("reading retention back: %v", err)
			}
			if string(ret.Retention.Mode) != tt.policy.RetentionMode {
				t.Errorf("retention mode %s, want %s", ret.Retention.Mode, tt.policy.RetentionMode)
			}
			wantUntil := before.Add(time.Duration(tt.policy.RetentionDays) * 24 * time.Hour)
			if until := aws.ToTime(ret.Retention.RetainUntilDate); until.Before(wantUntil.Add(-time.Minute)) || until.After(wantUntil.Add(time.Hour)) {
				t.Errorf("retained until %v, want about %v", until, wantUntil)
			}
			obj, err := f.stack.AWS.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(dest), Key: aws.String("acme/batch.csv"), VersionId: aws.String(res.DestVersionID)})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(obj.Body)
			obj.Body.Close()
			if obj.ServerSideEncryption != tt.encryption || !bytes.Equal(got, body) {
				t.Errorf("encryption %s, bytes %q; want %s and the uploaded bytes", obj.ServerSideEncryption, got, tt.encryption)
			}
			if res.Encryption != string(tt.encryption) || res.RetentionMode != tt.policy.RetentionMode || res.RetainUntil.IsZero() {
				t.Errorf("result does not record the controls: %+v", res)
			}
			tags, err := f.stack.AWS.S3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(dest), Key: aws.String("acme/batch.csv"), VersionId: aws.String(res.DestVersionID)})
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]string{}
			for _, tag := range tags.TagSet {
				found[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			if found["ferry-sha256"] != insp.SHA256 || found["ferry-partner"] != "acme" || found["ferry-file-id"] != ref.FileID {
				t.Errorf("tags %v", found)
			}
			// A locked version cannot be deleted: the lock is real.
			if _, err := f.stack.AWS.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(dest), Key: aws.String("acme/batch.csv"), VersionId: aws.String(res.DestVersionID)}); err == nil {
				t.Error("deleted a version under Object Lock retention")
			}
			// Retried delivery re-verifies the governed version and reuses it.
			again, err := f.deliver(t, &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/batch.csv", Governance: tt.policy})
			if err != nil || !again.Reused || again.DestVersionID != res.DestVersionID {
				t.Fatalf("retry = %+v, %v", again, err)
			}
		})
	}
}

// A multipart upload takes its retention date when it is created, so a
// long copy, or one resumed after a worker died, completes with less than
// the partner's retention left. Deliver extends it to run from when the
// version was written, rather than failing (or passing) the verification.
// The short retention below is what such an upload leaves.
func TestDeliverExtendsRetentionToRunFromTheWrite(t *testing.T) {
	f := newFixture(t)
	dest := f.stack.Bucket(t, true)
	ref := f.ref("acme/inbound/long.csv", f.put(t, "acme/inbound/long.csv", []byte("id\n1\n")))
	insp, err := f.inspect(t, ref, csvRules)
	if err != nil {
		t.Fatal(err)
	}
	short := governance.Policy{RetentionMode: governance.Governance, RetentionDays: 1}
	first, err := f.deliver(t, &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/long.csv", Governance: short})
	if err != nil {
		t.Fatal(err)
	}
	policy := governance.Policy{RetentionMode: governance.Governance, RetentionDays: 30}
	res, err := f.deliver(t, &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/long.csv", Governance: policy})
	if err != nil {
		t.Fatalf("delivering a version whose retention started too early: %v", err)
	}
	if !res.Reused || res.DestVersionID != first.DestVersionID {
		t.Fatalf("the version was not reused: %+v", res)
	}
	head, err := f.stack.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(dest), Key: aws.String("acme/long.csv"), VersionId: aws.String(res.DestVersionID)})
	if err != nil {
		t.Fatal(err)
	}
	want := aws.ToTime(head.LastModified).Add(30 * 24 * time.Hour)
	if until := aws.ToTime(head.ObjectLockRetainUntilDate); until.Before(want.Add(-time.Minute)) {
		t.Errorf("retained until %v, want at least %v (30 days from the write)", until, want)
	}
	if !res.RetainUntil.Equal(aws.ToTime(head.ObjectLockRetainUntilDate)) {
		t.Errorf("result says retained until %v, S3 says %v", res.RetainUntil, aws.ToTime(head.ObjectLockRetainUntilDate))
	}
}

func TestDeliverRefusesAVersionMissingItsControls(t *testing.T) {
	f := newFixture(t)
	dest := f.stack.Bucket(t, false) // no Object Lock: retention cannot be applied
	ref := f.ref("acme/inbound/a.csv", f.put(t, "acme/inbound/a.csv", []byte("a,b\n")))
	insp, err := f.inspect(t, ref, csvRules)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.deliver(t, &activities.DeliverInput{File: ref, Inspection: *insp, DestBucket: dest, DestKey: "acme/a.csv",
		Governance: governance.Policy{RetentionMode: governance.Compliance, RetentionDays: 1}})
	app := appErr(t, err, activities.ErrDestinationRefused)
	if !strings.Contains(app.Message(), "retention needs Object Lock") {
		t.Fatalf("message %q does not say what to fix", app.Message())
	}
}

func TestInspectFindsContentViolationsInTheSameRead(t *testing.T) {
	f := newFixture(t)
	r := rules.Rules{AllowedExtensions: []string{".csv"}, CheckContent: true}
	tests := map[string]struct {
		body        []byte
		want, class string
	}{
		"exe renamed csv": {[]byte("MZ\x90\x00\x03\x00\x00\x00"), "Windows executable (MZ), not a .csv file", rules.ClassSignature},
		"latin-1 csv":     {[]byte("id,name\n1,Zo\xeb\n"), "byte 12 is not valid UTF-8", rules.ClassEncoding},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ref := f.ref("acme/inbound/x.csv", f.put(t, "acme/inbound/x.csv", tt.body))
			_, err := f.inspect(t, ref, r)
			app := appErr(t, err, activities.ErrRuleViolation)
			var v activities.Violation
			if err := app.Details(&v); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(v.Reasons, "; "), tt.want) {
				t.Fatalf("reasons %v, want %q", v.Reasons, tt.want)
			}
			if !slices.Equal(v.Classes, []string{tt.class}) {
				t.Fatalf("classes %v, want [%s]", v.Classes, tt.class)
			}
			// The file was read once and its checksum is known for the record.
			if v.Result.SHA256 == "" || v.Result.BytesRead != int64(len(tt.body)) {
				t.Fatalf("violation carries no checksum of the read: %+v", v.Result)
			}
		})
	}
}

func TestQuarantineCopiesTheVersionAndKeepsTheSource(t *testing.T) {
	f := newFixture(t)
	qb := f.stack.Bucket(t, false)
	ref := f.ref("acme/inbound/x.csv", f.put(t, "acme/inbound/x.csv", []byte("MZ\x90\x00")))
	v, err := f.env.ExecuteActivity(activities.QuarantineName, &activities.QuarantineInput{File: ref, Bucket: qb, Key: "acme/x.csv", SHA256: "abc"})
	if err != nil {
		t.Fatal(err)
	}
	var q activities.QuarantineResult
	if err := v.Get(&q); err != nil {
		t.Fatal(err)
	}
	obj, err := f.stack.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(qb), Key: aws.String("acme/x.csv"), VersionId: aws.String(q.VersionID)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	if string(got) != "MZ\x90\x00" || obj.Metadata["ferry-file-id"] != ref.FileID {
		t.Fatalf("quarantined %q with metadata %v", got, obj.Metadata)
	}
	if _, err := f.stack.AWS.S3.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(f.src), Key: aws.String(ref.Key), VersionId: aws.String(ref.VersionID)}); err != nil {
		t.Fatalf("the source was not kept: %v", err)
	}
}

func TestHandleSource(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	tagged := f.ref("acme/inbound/t.csv", f.put(t, "acme/inbound/t.csv", []byte("a\n")))
	if _, err := f.env.ExecuteActivity(activities.HandleSourceName, &activities.HandleSourceInput{File: tagged, Action: governance.Tag, DestVersionID: "dv1"}); err != nil {
		t.Fatal(err)
	}
	tags, err := f.stack.AWS.S3.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(f.src), Key: aws.String(tagged.Key), VersionId: aws.String(tagged.VersionID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(tags.TagSet) != 3 {
		t.Fatalf("tags %v", tags.TagSet)
	}

	key := "acme/inbound/d.csv"
	old := f.ref(key, f.put(t, key, []byte("old\n")))
	newer := f.put(t, key, []byte("a newer upload\n"))
	for range 2 { // deleting twice is fine: a retry must not fail
		if _, err := f.env.ExecuteActivity(activities.HandleSourceName, &activities.HandleSourceInput{File: old, Action: governance.Delete}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.stack.AWS.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.src), Key: aws.String(key), VersionId: aws.String(old.VersionID)}); err == nil {
		t.Fatal("the delivered version is still in landing")
	}
	// Only the delivered version goes; a newer upload of the same name stays.
	if _, err := f.stack.AWS.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(f.src), Key: aws.String(key), VersionId: aws.String(newer)}); err != nil {
		t.Fatalf("the newer upload was deleted too: %v", err)
	}
}

func TestFetchSidecar(t *testing.T) {
	f := newFixture(t)
	ref := f.ref("globex/inbound/orders.csv", f.put(t, "globex/inbound/orders.csv", []byte("a,b\n")))
	fetch := func() (*activities.FetchSidecarResult, error) {
		v, err := f.env.ExecuteActivity(activities.FetchSidecarName, &activities.FetchSidecarInput{File: ref})
		if err != nil {
			return nil, err
		}
		var r activities.FetchSidecarResult
		return &r, v.Get(&r)
	}
	// Not there yet: a retryable failure, which is how the workflow waits.
	_, err := fetch()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrSidecarMissing || app.NonRetryable() {
		t.Fatalf("missing sidecar: %v, want a retryable %s", err, activities.ErrSidecarMissing)
	}
	sum := strings.Repeat("ab", 32)
	f.put(t, "globex/inbound/orders.csv.sha256", []byte(sum+"  orders.csv\n"))
	got, err := fetch()
	if err != nil || got.SHA256 != sum || got.Key != "globex/inbound/orders.csv.sha256" {
		t.Fatalf("got %+v, %v", got, err)
	}
	f.put(t, "globex/inbound/orders.csv.sha256", []byte(sum+"  invoice.csv\n"))
	_, err = fetch()
	if app := appErr(t, err, activities.ErrSidecarInvalid); !strings.Contains(app.Message(), `names "invoice.csv"`) {
		t.Fatalf("message %q", app.Message())
	}
}
