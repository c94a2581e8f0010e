//go:build integration

package stacktest

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
