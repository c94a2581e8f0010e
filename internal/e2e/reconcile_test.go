//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/reconcile"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// A file whose event is lost is delivered by the reconciler, which counts
// it as a lost event for the FerryEventsLost alert.
func TestLostEventIsDeliveredByTheReconciler(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	ctx := context.Background()
	workerMetrics := "http://" + st.Config.Metrics.WorkerListen + metrics.Path
	lostBefore := metricValue(t, workerMetrics, metrics.ReconcileStartedTotal, map[string]string{"partner": "acme"})
	key := stacktest.Unique("acme/inbound/lost-") + ".csv"
	put := putSilently(t, st, key, "id,qty\n1,2\n")[0]
	putAt := time.Now()
	id := fileid.WorkflowID("acme", "landing", key, aws.ToString(put.VersionId))
	time.Sleep(2 * time.Second)
	if _, err := st.Temporal.DescribeWorkflowExecution(ctx, id, ""); err == nil {
		t.Fatal("the file was started without an event: the test did not lose it")
	}

	triggerReconcile(t, st, putAt)
	waitStarted(t, st, id, time.Minute) // by the reconciler: the event is lost
	if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered", res)
	}
	if got := source(t, st, id); got != "reconcile" {
		t.Errorf("started by %q, want the reconciler", got)
	}
	stacktest.Eventually(t, 10*time.Second, func() (bool, string) {
		got := metricValue(t, workerMetrics, metrics.ReconcileStartedTotal, map[string]string{"partner": "acme"})
		return got >= lostBefore+1, fmt.Sprintf("%s{partner=acme} is %v, was %v before the lost file", metrics.ReconcileStartedTotal, got, lostBefore)
	})
}

// triggerReconcile runs the reconcile schedule now instead of at its
// interval, once versions put at putAt are older than reconcile.grace:
// younger ones it leaves to their events, which may still be on their way.
func triggerReconcile(t *testing.T, st *stacktest.Stack, putAt time.Time) {
	t.Helper()
	if wait := time.Until(putAt.Add(st.Config.Reconcile.Grace + time.Second)); wait > 0 {
		time.Sleep(wait)
	}
	h := st.Temporal.ScheduleClient().GetHandle(context.Background(), reconcile.ScheduleID)
	if err := h.Trigger(context.Background(), client.ScheduleTriggerOptions{}); err != nil {
		t.Fatalf("triggering the reconcile schedule (the worker creates it at start): %v", err)
	}
}

// metricValue scrapes one series from a Ferry process's metrics (0 when
// the series is not born yet).
func metricValue(t testing.TB, url, name string, labels map[string]string) float64 {
	t.Helper()
	m, err := metricstest.Scrape(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	v, _ := m.Value(name, labels)
	return v
}

// putSilently puts objects (key, body, key, body, ...) into landing with
// landing's notifications switched off once for all of them, so no event
// is ever sent for them. It returns the puts in order.
func putSilently(t testing.TB, st *stacktest.Stack, keysAndBodies ...string) []*s3.PutObjectOutput {
	t.Helper()
	ctx := context.Background()
	saved, err := st.AWS.S3.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String("landing")})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_, err := st.AWS.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String("landing"), NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: saved.QueueConfigurations},
		})
		if err != nil {
			t.Fatalf("restoring landing's notifications: %v", err)
		}
	}()
	if _, err := st.AWS.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String("landing"), NotificationConfiguration: &types.NotificationConfiguration{},
	}); err != nil {
		t.Fatal(err)
	}
	var puts []*s3.PutObjectOutput
	for i := 0; i+1 < len(keysAndBodies); i += 2 {
		put, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(keysAndBodies[i]), Body: strings.NewReader(keysAndBodies[i+1])})
		if err != nil {
			t.Fatal(err)
		}
		puts = append(puts, put)
	}
	return puts
}
