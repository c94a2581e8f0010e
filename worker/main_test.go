//go:build integration

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/health"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/s3event"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func TestMain(m *testing.M) { stacktest.Main(m) }

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// provision creates the buckets and tables deploy/local/ferry.yaml names
// in this test binary's own MinIO and dynalite.
func provision(t *testing.T, st *stacktest.Stack) {
	t.Helper()
	ctx := context.Background()
	for _, b := range []string{st.Config.Landing.Bucket, st.Config.Quarantine.Bucket, "delivered"} {
		_, err := st.AWS.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b), ObjectLockEnabledForBucket: aws.Bool(true)})
		var owned *types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			t.Fatalf("creating bucket %s: %v", b, err)
		}
		if _, err := st.AWS.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(b),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := filestore.CreateTable(ctx, st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable); err != nil && !strings.Contains(err.Error(), "in use") {
		t.Fatal(err)
	}
	if err := audit.CreateTable(ctx, st.AWS.DynamoDB, st.Config.DynamoDB.AuditTable); err != nil && !strings.Contains(err.Error(), "in use") {
		t.Fatal(err)
	}
	// Without it every file's anchor is retried for two minutes inside
	// its last workflow task, and the file's outcome waits.
	if a := st.Config.Audit.Anchor; a.Bucket != "" {
		if err := anchor.CreateBucket(ctx, st.AWS.S3, a.Bucket, a.RetentionDays); err != nil {
			t.Fatal(err)
		}
	}
}

// The worker, run as its binary runs, serves the series an operator looks
// for once a file is delivered: Ferry's and the Temporal SDK's.
func TestWorkerServesMetricsAfterADelivery(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal, stacktest.S3, stacktest.DynamoDB, stacktest.Clamd)
	provision(t, st)
	addr := startWorker(t)
	ingestCSV(t, st, "metrics-")

	url := "http://" + addr + metrics.Path
	acme := map[string]string{"partner": "acme"}
	series := []struct {
		name   string
		labels map[string]string
	}{
		{metrics.BytesDeliveredTotal, acme},
		{metrics.EndToEndLatency, acme},
		{metrics.StageDuration, map[string]string{"partner": "acme", "stage": "inspect"}},
		{metrics.StageDuration, map[string]string{"partner": "acme", "stage": "deliver"}},
		{metrics.QuarantineBacklog, acme},
		{metrics.QuarantineOldestAge, acme},
		{metrics.AuditVerificationFailuresTotal, acme}, // at 0, so the first failure is an increase
		// The SDK's own, as Temporal's dashboards name them.
		{"temporal_workflow_task_execution_latency_seconds", map[string]string{"workflow_type": "IngestFile"}},
		{"temporal_request_total", map[string]string{"namespace": "default"}},
		// A small file is inspected by a local activity (the fast path).
		{"temporal_local_activity_execution_latency_seconds", map[string]string{"activity_type": "Inspect"}},
	}
	// Every series, not only the delivery's count: the SDK records a
	// workflow task's latency once the task is done, which may be a
	// scrape after the count the task's code added.
	var m metricstest.Families
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		var err error
		m, err = metricstest.Scrape(url)
		if err != nil {
			return false, err.Error()
		}
		if v, _ := m.Value(metrics.FilesTotal, map[string]string{"partner": "acme", "outcome": "delivered"}); v != 1 {
			return false, "ferry_files_total{partner=acme,outcome=delivered} is not 1"
		}
		var missing []string
		for _, s := range series {
			if _, ok := m.Value(s.name, s.labels); !ok {
				missing = append(missing, fmt.Sprintf("%s%v", s.name, s.labels))
			}
		}
		return len(missing) == 0, fmt.Sprintf("no series %s at %s", strings.Join(missing, ", "), url)
	})
	// deploy/local/ferry.yaml gives initech alone a deadline (10s).
	if v, ok := m.Value(metrics.QuarantineDeadline, map[string]string{"partner": "initech", "action": "escalate"}); !ok || v != 10 {
		t.Errorf("initech's quarantine deadline %v (present %v), want 10 s", v, ok)
	}
	if got := m.Labels(metrics.QuarantineDeadline, "partner"); len(got) != 1 {
		t.Errorf("quarantine deadlines for %v, want initech's alone", got)
	}
	if got := m.Labels("target_info", "service_name"); len(got) != 1 || got[0] != metrics.WorkerService {
		t.Errorf("target_info service_name %v, want %s", got, metrics.WorkerService)
	}
	if v, _ := m.Value(metrics.QuarantineBacklog, acme); v != 0 {
		t.Errorf("quarantine backlog %v, want 0", v)
	}
	for _, name := range []string{metrics.FilesTotal, metrics.StageDuration} {
		for _, label := range []string{"key", "file_id", "workflow_id"} {
			if vs := m.Labels(name, label); len(vs) > 0 {
				t.Errorf("%s is labelled by %s: %v", name, label, vs)
			}
		}
	}
}

// A worker started with audit.verify_interval verifies the trails of the
// files that changed and counts one someone edited in the table.
func TestWorkerCountsATamperedAuditTrail(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal, stacktest.S3, stacktest.DynamoDB, stacktest.Clamd)
	provision(t, st)
	ctx := context.Background()
	files := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable)
	trails := &audit.Store{DB: st.AWS.DynamoDB, Table: st.Config.DynamoDB.AuditTable}
	id := fileid.WorkflowID("globex", st.Config.Landing.Bucket, "globex/inbound/"+stacktest.Unique("tampered-")+".csv", "v1")
	if _, _, err := files.Receive(ctx, filestore.File{FileID: id, Partner: "globex", Bucket: st.Config.Landing.Bucket, Key: "globex/inbound/x.csv", VersionID: "v1"}); err != nil {
		t.Fatal(err)
	}
	e1 := audit.Next(nil, id, time.Now(), "ferry", "status:received", "")
	e2 := audit.Next(&e1, id, time.Now(), "ferry", "status:inspecting", "")
	e2.Details = "edited in the table" // written without recomputing the hash
	for _, e := range []audit.Entry{e1, e2} {
		if err := trails.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv("FERRY_AUDIT_VERIFY_INTERVAL", "1m") // the first pass runs at start
	addr := startWorker(t)
	url := "http://" + addr + metrics.Path
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		m, err := metricstest.Scrape(url)
		if err != nil {
			return false, err.Error()
		}
		v, _ := m.Value(metrics.AuditVerificationFailuresTotal, map[string]string{"partner": "globex"})
		return v == 1, fmt.Sprintf("%s{partner=globex} is %v, want 1", metrics.AuditVerificationFailuresTotal, v)
	})
}

// The worker, run as its binary runs, is ready on its metrics port once
// Temporal, the landing bucket and the files table answer, and says so
// per check.
func TestWorkerIsReadyWhenTemporalAndItsAWSResourcesAnswer(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal, stacktest.S3, stacktest.DynamoDB, stacktest.Clamd)
	provision(t, st)
	addr := startWorker(t)
	var body string
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		code, b, err := stacktest.Get("http://" + addr + health.ReadyPath)
		body = b
		return err == nil && code == http.StatusOK, fmt.Sprintf("%s: %d %q %v", health.ReadyPath, code, b, err)
	})
	for _, want := range []string{
		"[+]temporal " + st.Config.Temporal.Address + " ok",
		"[+]s3 bucket " + st.Config.Landing.Bucket + " ok",
		"[+]dynamodb table " + st.Config.DynamoDB.FilesTable + " ok",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("%s says %q, want a line %q", health.ReadyPath, body, want)
		}
	}
}

// Without its files table the worker is not ready, and names the table;
// it stays alive (a missing table is not cured by a restart).
func TestWorkerIsNotReadyWithoutItsFilesTable(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal, stacktest.S3, stacktest.DynamoDB, stacktest.Clamd)
	provision(t, st)
	missing := stacktest.Unique("ferry-files-missing-")
	t.Setenv("FERRY_DYNAMODB_FILES_TABLE", missing)
	addr := startWorker(t)
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		code, b, err := stacktest.Get("http://" + addr + health.ReadyPath)
		return err == nil && code == http.StatusServiceUnavailable &&
				strings.Contains(b, "[-]dynamodb table "+missing+" failed: ") && strings.Contains(b, "ResourceNotFoundException") &&
				strings.Contains(b, "[+]temporal "),
			fmt.Sprintf("%s: %d %q %v", health.ReadyPath, code, b, err)
	})
	if code, b, err := stacktest.Get("http://" + addr + health.LivePath); err != nil || code != http.StatusOK {
		t.Errorf("%s while not ready: %d %q %v, want 200", health.LivePath, code, b, err)
	}
}

func TestWorkerStopsWhenItsMetricsAddressIsTaken(t *testing.T) {
	stacktest.Require(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Setenv("FERRY_METRICS_WORKER_LISTEN", l.Addr().String())
	err = run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "metrics.worker_listen") || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("want an error naming metrics.worker_listen and %s, got %v", l.Addr(), err)
	}
}

// startWorker runs the worker as its binary runs, with its metrics on a
// free address (returned), until the test ends.
// ingestCSV puts a small CSV into acme's landing prefix and starts its
// workflow as the bridge would; it returns the file's plan.
func ingestCSV(t *testing.T, st *stacktest.Stack, prefix string) intake.Plan {
	t.Helper()
	ctx := context.Background()
	body := "id,qty\n1,5\n"
	key := "acme/inbound/" + stacktest.Unique(prefix) + ".csv"
	put, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(st.Config.Landing.Bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	in := &intake.Intake{Config: st.Config, Temporal: st.Temporal}
	p, err := in.Ingest(ctx, s3event.Object{
		Bucket: st.Config.Landing.Bucket, Key: key, VersionID: aws.ToString(put.VersionId), ETag: aws.ToString(put.ETag),
		Size: int64(len(body)), EventName: "s3:ObjectCreated:Put", EventTime: time.Now(), Via: "http/s3",
	}, intake.SkipKnownCheck)
	if err != nil || p.Decision != intake.Start {
		t.Fatalf("starting %s: %v (%s)", key, err, p.Decision)
	}
	return p
}

func startWorker(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	t.Setenv("FERRY_METRICS_WORKER_LISTEN", addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
	return addr
}
