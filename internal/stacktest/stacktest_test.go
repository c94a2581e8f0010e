//go:build integration

package stacktest

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// Require starts what a test declares and nothing else; a later test may
// declare more.
func TestRequireStartsOnlyWhatIsDeclared(t *testing.T) {
	ctx := context.Background()
	st := Require(t, DynamoDB)
	if _, err := st.AWS.DynamoDB.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("DynamoDB declared but not served: %v", err)
	}
	for _, s := range []Service{Temporal, S3, SQS, Clamd} {
		if listening(run.own.addr[s]) == nil {
			t.Errorf("%s runs though no test declared it", s)
		}
	}
	st = Require(t, SQS)
	if _, err := st.AWS.SQS.ListQueues(ctx, &sqs.ListQueuesInput{}); err != nil {
		t.Fatalf("SQS declared later but not served: %v", err)
	}
}

func TestTheLocalStackDoesNotMixWithServicesOfTheBinary(t *testing.T) {
	Require(t, DynamoDB)
	r := &fatalRecorder{TB: t}
	Require(r, Ferry)
	if !strings.Contains(r.fatal, "tests that need Ferry's processes (stacktest.Ferry) belong in a package") {
		t.Fatalf("asking for Ferry beside services of the binary's own: %q", r.fatal)
	}
}

// S3 is the server FERRY_TEST_S3 selected, with versioning and Object
// Lock, reached with the root keys the AWS clients hold.
func TestS3IsTheSelectedServer(t *testing.T) {
	ctx := context.Background()
	st := Require(t, S3)
	resp, err := http.Get(st.Env["AWS_ENDPOINT_URL_S3"])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := map[S3Server]string{MinIO: "MinIO", VersityGW: "VERSITYGW"}[st.S3Server]; resp.Header.Get("Server") != want {
		t.Fatalf("S3 answers as %q, want %q: %s selects %s", resp.Header.Get("Server"), want, S3ServerEnv, st.S3Server)
	}
	bucket := st.Bucket(t, true)
	v1, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("1")})
	if err != nil {
		t.Fatal(err)
	}
	v2, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("2")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(v1.VersionId) == "" || aws.ToString(v1.VersionId) == aws.ToString(v2.VersionId) {
		t.Fatalf("versions %q and %q, want two distinct ones", aws.ToString(v1.VersionId), aws.ToString(v2.VersionId))
	}
	lock, err := st.AWS.S3.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil || lock.ObjectLockConfiguration == nil || lock.ObjectLockConfiguration.ObjectLockEnabled != "Enabled" {
		t.Fatalf("Object Lock of a bucket created with it: %+v, %v", lock.ObjectLockConfiguration, err)
	}
}
