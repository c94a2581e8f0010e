//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// After a delivery the running worker's and bridge's /metrics say so, as
// an operator's Prometheus would scrape them.
func TestDeliveryShowsInTheWorkersAndBridgesMetrics(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	workerURL := "http://" + st.Config.Metrics.WorkerListen + metrics.Path
	bridgeURL := "http://" + st.Config.Metrics.BridgeListen + metrics.Path
	delivered := map[string]string{"partner": "acme", "outcome": "delivered"}
	started := map[string]string{"source": "http", "result": "started"}
	deliveredBefore := metricValue(t, workerURL, metrics.FilesTotal, delivered)
	startedBefore := metricValue(t, bridgeURL, metrics.IntakeTotal, started)

	key := stacktest.Unique("acme/inbound/metrics-") + ".csv"
	put, err := st.AWS.S3.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("landing"), Key: aws.String(key), Body: strings.NewReader("id,qty\n1,5\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := fileid.WorkflowID("acme", "landing", key, aws.ToString(put.VersionId))
	waitStarted(t, st, id, 30*time.Second)
	if res := waitStage(t, st, id, filestatus.Delivered); res.Stage != filestatus.Delivered {
		t.Fatalf("not delivered: %+v", res)
	}
	stacktest.Eventually(t, 10*time.Second, func() (bool, string) {
		got := metricValue(t, workerURL, metrics.FilesTotal, delivered)
		return got >= deliveredBefore+1, "worker: ferry_files_total{partner=acme,outcome=delivered} did not increase"
	})
	if got := metricValue(t, bridgeURL, metrics.IntakeTotal, started); got < startedBefore+1 {
		t.Errorf("bridge: ferry_intake_total{source=http,result=started} is %v, was %v before the upload", got, startedBefore)
	}
	// Each process says which it is.
	for url, want := range map[string]string{workerURL: metrics.WorkerService, bridgeURL: metrics.BridgeService} {
		m, err := metricstest.Scrape(url)
		if err != nil {
			t.Fatalf("scraping %s: %v", url, err)
		}
		if got := m.Labels("target_info", "service_name"); len(got) != 1 || got[0] != want {
			t.Errorf("%s: target_info service_name %v, want %s", url, got, want)
		}
	}
}
