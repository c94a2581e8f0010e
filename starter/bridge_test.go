//go:build integration

package starter

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ferrydata/ferry/internal/health"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The bridge, run as ferry bridge runs, is ready on its metrics port
// when Temporal and its SQS queue answer; when the queue goes away it
// says which check fails, and stays alive.
func TestBridgeReadinessFollowsTemporalAndItsQueue(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal, stacktest.SQS)
	ctx := context.Background()
	queue := stacktest.Unique("bridge-ready-")
	var urls []*string
	for _, name := range []string{queue, queue + "-dlq"} {
		out, err := st.AWS.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatalf("creating SQS queue %s: %v", name, err)
		}
		urls = append(urls, out.QueueUrl)
		t.Cleanup(func() {
			_, _ = st.AWS.SQS.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
		})
	}
	ops := freeAddr(t)
	t.Setenv("FERRY_BRIDGE_AUTH_TOKEN", "test-token")
	t.Setenv("FERRY_BRIDGE_SQS_QUEUE", queue)
	t.Setenv("FERRY_BRIDGE_SQS_DEAD_LETTER_QUEUE", queue+"-dlq")
	t.Setenv("FERRY_METRICS_BRIDGE_LISTEN", ops)
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- bridgeUntil(bctx, []string{"--bridge.listen", freeAddr(t)}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("bridge: %v", err)
		}
	})

	readyz := "http://" + ops + health.ReadyPath
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		code, b, err := stacktest.Get(readyz)
		return err == nil && code == http.StatusOK &&
				b == fmt.Sprintf("[+]temporal %s ok\n[+]sqs queue %s ok\nready\n", st.Config.Temporal.Address, queue),
			fmt.Sprintf("%d %q %v", code, b, err)
	})

	if _, err := st.AWS.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: urls[0]}); err != nil {
		t.Fatal(err)
	}
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		code, b, err := stacktest.Get(readyz)
		return err == nil && code == http.StatusServiceUnavailable && strings.Contains(b, "[-]sqs queue "+queue+" failed: ") &&
			strings.Contains(b, "[+]temporal "), fmt.Sprintf("%d %q %v", code, b, err)
	})
	if code, b, err := stacktest.Get("http://" + ops + health.LivePath); err != nil || code != http.StatusOK {
		t.Errorf("%s while not ready: %d %q %v, want 200", health.LivePath, code, b, err)
	}
}
