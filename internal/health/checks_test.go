//go:build integration

package health_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/health"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// ready runs checks once, as a probe would, and returns each result's
// error (nil: passed) by name.
func ready(t *testing.T, checks ...health.Check) map[string]error {
	t.Helper()
	c := health.New(nil)
	c.Timeout = 2 * time.Second
	c.Start(checks...)
	results, _ := c.Ready(context.Background())
	got := map[string]error{}
	for _, r := range results {
		got[r.Name] = r.Err
	}
	return got
}

// Each check passes against the real service when the resource is there,
// and fails, under a name that says which resource, when it is not.
func TestChecksAgainstRealServices(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal, stacktest.S3, stacktest.DynamoDB, stacktest.SQS)
	ctx := context.Background()
	bucket := st.Bucket(t, false)
	table := st.FilesTable(t).Table
	q, err := st.AWS.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(stacktest.Unique("health-"))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = st.AWS.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	})
	queueURL := aws.ToString(q.QueueUrl)
	queueName := queueURL[strings.LastIndex(queueURL, "/")+1:]

	// A Temporal address where nothing listens.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := l.Addr().String()
	l.Close()
	down, err := client.NewLazyClient(client.Options{HostPort: nowhere})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)

	for _, tc := range []struct {
		check health.Check
		pass  bool
		want  string // in the failure
	}{
		{health.Temporal(st.Temporal, st.Config.Temporal.Address), true, ""},
		{health.Temporal(down, nowhere), false, "connection refused"},
		{health.Bucket(st.AWS.S3, bucket), true, ""},
		{health.Bucket(st.AWS.S3, bucket+"-missing"), false, "NotFound"},
		{health.Table(st.AWS.DynamoDB, table), true, ""},
		{health.Table(st.AWS.DynamoDB, table+"-missing"), false, "ResourceNotFoundException"},
		{health.Queue(st.AWS.SQS, queueName), true, ""},
		{health.Queue(st.AWS.SQS, queueURL), true, ""},
		{health.Queue(st.AWS.SQS, queueName+"-missing"), false, "looking up the queue's URL"},
	} {
		err := ready(t, tc.check)[tc.check.Name]
		switch {
		case tc.pass && err != nil:
			t.Errorf("%s: %v, want it to pass", tc.check.Name, err)
		case !tc.pass && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want a failure with %q", tc.check.Name, err, tc.want)
		}
	}
}
