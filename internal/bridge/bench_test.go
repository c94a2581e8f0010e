//go:build integration

package bridge_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	batchpb "go.temporal.io/api/batch/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/s3event"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// countingStarter passes starts to a real Temporal client, counting the
// calls and the starts Temporal accepted.
type countingStarter struct {
	client.Client
	calls, n atomic.Int64
}

func (c *countingStarter) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	c.calls.Add(1)
	run, err := c.Client.ExecuteWorkflow(ctx, o, wf, args...)
	if err == nil {
		c.n.Add(1)
	}
	return run, err
}

// BenchmarkEventsToDurableStarts measures, on the local stack's Temporal
// and SQS, how many events a second the bridge turns into durable workflow
// starts over HTTP and over SQS, against a baseline measured in the same
// run: a loop of bare StartWorkflow calls with the same options and the
// same concurrency. Each iteration sends a batch through each path.
// Figures only, no pass/fail:
//
//	go test -run '^$' -bench EventsToDurableStarts -benchtime 3x ./internal/bridge/
func BenchmarkEventsToDurableStarts(b *testing.B) {
	const batch, senders = 200, 8
	st := stacktest.Require(b, stacktest.Temporal, stacktest.SQS)
	cfg := *st.Config
	cfg.Temporal.TaskQueue = stacktest.Unique("bench-") // no worker polls it
	cfg.Bridge.AuthToken = token
	// The bridge's own bounds are the product's defaults.
	body, version := uploadEvent(b)
	withVersion := func(v string) string { return strings.Replace(body, version, v, 1) }
	defer terminateQueue(b, st, cfg.Temporal.TaskQueue)

	planner := &intake.Intake{Config: &cfg, Log: slog.New(slog.DiscardHandler)}
	var bare, viaHTTP, viaSQS time.Duration
	for i := 0; b.Loop(); i++ {
		// Baseline: bare StartWorkflow calls, as the bridge makes them:
		// planned by intake beforehand, started without the bridge around.
		plans := make([]intake.Plan, batch)
		for j := range plans {
			objs, err := s3event.Parse([]byte(withVersion(fmt.Sprintf("bench-bare-%s-%d-%d", cfg.Temporal.TaskQueue, i, j))))
			if err != nil {
				b.Fatal(err)
			}
			if plans[j], err = planner.Plan(context.Background(), objs[0], intake.SkipKnownCheck); err != nil || plans[j].Decision != intake.Start {
				b.Fatalf("planning the bare start: %v %+v", err, plans[j])
			}
		}
		start := time.Now()
		parallel(batch, senders, func(j int) {
			if _, err := st.Temporal.ExecuteWorkflow(context.Background(), plans[j].Options, ingest.WorkflowName, plans[j].Input); err != nil {
				b.Error(err)
			}
		})
		bare += time.Since(start)

		// HTTP: the same number of distinct events POSTed to the bridge.
		counter := &countingStarter{Client: st.Temporal}
		srv := httptest.NewServer((&bridge.Bridge{Intake: &intake.Intake{Temporal: counter, Config: &cfg, Log: slog.New(slog.DiscardHandler)}, Log: slog.New(slog.DiscardHandler)}).Handler())
		events := make([]string, batch)
		for j := range events {
			v := fmt.Sprintf("bench-http-%s-%d-%d", cfg.Temporal.TaskQueue, i, j)
			events[j] = withVersion(v)
		}
		start = time.Now()
		parallel(batch, senders, func(j int) {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+bridge.EventsPath, strings.NewReader(events[j]))
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Errorf("bridge answered %d", resp.StatusCode)
			}
		})
		viaHTTP += time.Since(start)
		srv.Close()
		if counter.n.Load() != batch {
			b.Fatalf("HTTP: %d durable starts for %d events", counter.n.Load(), batch)
		}

		// SQS: a queue holding the batch, drained by one consumer with
		// the same concurrency.
		viaSQS += drainSQS(b, st, &cfg, withVersion, fmt.Sprintf("bench-sqs-%s-%d-", cfg.Temporal.TaskQueue, i), batch, senders)
	}
	n := float64(b.N * batch)
	b.ReportMetric(n/bare.Seconds(), "bare-starts/s")
	b.ReportMetric(n/viaHTTP.Seconds(), "http-events/s")
	b.ReportMetric(n/viaSQS.Seconds(), "sqs-events/s")
	b.ReportMetric(bare.Seconds()/viaHTTP.Seconds(), "http/bare")
	b.ReportMetric(bare.Seconds()/viaSQS.Seconds(), "sqs/bare")
	b.ReportMetric(0, "ns/op") // an iteration is three batches: ns/op says nothing
}

func drainSQS(b *testing.B, st *stacktest.Stack, cfg *config.Config, withVersion func(string) string, prefix string, batch, concurrency int) time.Duration {
	b.Helper()
	ctx := context.Background()
	q, err := st.AWS.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(stacktest.Unique("bench-"))})
	if err != nil {
		b.Fatal(err)
	}
	defer st.AWS.SQS.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: q.QueueUrl})
	for j := 0; j < batch; j += 10 {
		var entries []types.SendMessageBatchRequestEntry
		for k := j; k < min(j+10, batch); k++ {
			entries = append(entries, types.SendMessageBatchRequestEntry{
				Id: aws.String(fmt.Sprint(k)), MessageBody: aws.String(withVersion(fmt.Sprintf("%s%d", prefix, k))),
			})
		}
		if _, err := st.AWS.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: q.QueueUrl, Entries: entries}); err != nil {
			b.Fatal(err)
		}
	}
	counter := &countingStarter{Client: st.Temporal}
	c := &bridge.Consumer{
		Intake: &intake.Intake{Temporal: counter, Config: cfg, Log: slog.New(slog.DiscardHandler)},
		SQS:    st.AWS.SQS, Log: slog.New(slog.DiscardHandler),
		Config: config.SQS{Queue: aws.ToString(q.QueueUrl), MaxReceives: 5, VisibilityTimeout: 30 * time.Second, WaitTime: time.Second, Concurrency: concurrency, ShutdownGrace: time.Minute},
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- c.Run(runCtx) }()
	stacktest.Eventually(b, 5*time.Minute, func() (bool, string) {
		n := counter.n.Load()
		return n >= int64(batch), fmt.Sprintf("SQS: %d of %d starts", n, batch)
	})
	took := time.Since(start)
	cancel()
	<-done
	return took
}

// parallel runs f(0..n-1) on w goroutines.
func parallel(n, w int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= n {
					return
				}
				f(j)
			}
		}()
	}
	wg.Wait()
}

// terminateQueue ends the benchmark's workflows (no worker runs them)
// with one batch operation.
func terminateQueue(b *testing.B, st *stacktest.Stack, taskQueue string) {
	_, err := st.Temporal.WorkflowService().StartBatchOperation(context.Background(), &workflowservice.StartBatchOperationRequest{
		Namespace: st.Config.Temporal.Namespace, JobId: stacktest.Unique("bench-cleanup-"), Reason: "benchmark cleanup",
		VisibilityQuery: fmt.Sprintf("TaskQueue = %q AND ExecutionStatus = 'Running'", taskQueue),
		Operation:       &workflowservice.StartBatchOperationRequest_TerminationOperation{TerminationOperation: &batchpb.BatchOperationTermination{}},
	})
	if err != nil {
		b.Logf("terminating the benchmark's workflows on %s: %v", taskQueue, err)
	}
}
