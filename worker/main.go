// Command worker hosts Ferry's workflows and activities.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/expect"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/health"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/logging"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/reconcile"
	"github.com/ferrydata/ferry/internal/temporalclient"
	"github.com/ferrydata/ferry/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

// run runs the worker until ctx ends (SIGINT/SIGTERM in main).
func run(ctx context.Context, args []string) (err error) {
	// Stopped while still starting (a SIGTERM during a rollout): a clean
	// stop, not a failure of whatever step it cut short (which reports
	// the cancellation in its own words: a gRPC status, a wrapped error).
	defer func() {
		if ctx.Err() != nil {
			err = nil
		}
	}()
	logging.Setup("worker")
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	cfg, err := config.FromArgs(fs, args)
	if err != nil {
		return err
	}
	log := logging.Configure("worker", cfg.Log.Format, cfg.Log.Level)
	// Bound first: a worker that cannot serve its metrics stops here,
	// before it takes any work. Its health endpoints share the port, and
	// say "starting" until the worker is about to poll.
	hc := health.New(log)
	exp, stopMetrics, err := metrics.Start(metrics.WorkerService, "metrics.worker_listen", cfg.Metrics.WorkerListen, cfg.PartnerNames(), hc.Handler(), log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	aws, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	tc, err := temporalclient.DialWithMetrics(cfg.Temporal, log, exp.TemporalHandler())
	if err != nil {
		return err
	}
	defer tc.Close()

	// On SIGTERM the worker stops polling and lets running activity
	// attempts finish for worker.stop_timeout before cancelling them.
	w := worker.New(tc, cfg.Temporal.TaskQueue, worker.Options{WorkerStopTimeout: cfg.Worker.StopTimeout})
	w.RegisterWorkflowWithOptions(workflows.IngestFile, workflow.RegisterOptions{Name: ingest.WorkflowName})
	files := filestore.New(aws.DynamoDB, cfg.DynamoDB.FilesTable)
	trails := &audit.Store{DB: aws.DynamoDB, Table: cfg.DynamoDB.AuditTable}
	scan, err := scanner(cfg)
	if err != nil {
		return err
	}
	rings, err := keyrings(cfg, log)
	if err != nil {
		return err
	}
	// Where the audit chains' heads are anchored (nil: off).
	anchors := anchor.FromConfig(aws.S3, cfg)
	w.RegisterActivity(&activities.Activities{
		S3:           aws.S3,
		Files:        files,
		Audit:        trails,
		Notifier:     notify.New(cfg.Notify, aws.SNS),
		Metrics:      exp.Ferry,
		Scanner:      scan,
		ScanMaxBytes: cfg.Scanner.MaxStreamBytes,
		Keyrings:     rings,
		Batches:      tc,
		Anchors:      anchors,
	})
	w.RegisterWorkflowWithOptions(workflows.IngestBatch, workflow.RegisterOptions{Name: batch.WorkflowName})
	w.RegisterWorkflowWithOptions(workflows.AnchorAudit, workflow.RegisterOptions{Name: anchor.WorkflowName})
	w.RegisterActivity(&anchor.Activities{Anchors: anchors, Files: files, Trails: trails, Log: log})
	w.RegisterWorkflowWithOptions(workflows.Reconcile, workflow.RegisterOptions{Name: reconcile.WorkflowName})
	// Expected files: each expectation's schedule opens its windows,
	// ExpectFile watches each occurrence (activities: the audit trail and
	// notifications, registered above).
	w.RegisterWorkflowWithOptions(workflows.ExpectWindow, workflow.RegisterOptions{Name: expect.WindowWorkflowName})
	w.RegisterWorkflowWithOptions(workflows.ExpectFile, workflow.RegisterOptions{Name: expect.WorkflowName})
	w.RegisterActivity(&reconcile.Activities{
		S3: aws.S3,
		// The reconciler starts like the bridge does, checking first what
		// is already known: a workflow in Temporal or a file record.
		Intake: &intake.Intake{Config: cfg, Temporal: tc, Workflows: tc, Files: files, Log: log, Metrics: exp.Ferry, Arrivals: tc},
		Grace:  cfg.Reconcile.Grace,
	})
	// Only partners with approvers have files that wait for a decision;
	// another partner's quarantined files stay quarantined for good, and
	// would make the oldest wait grow without end. Their deadlines are
	// reported beside the wait, for alert rules to compare.
	var deciding []string
	deadlines := map[string]metrics.Deadline{}
	for _, p := range cfg.PartnerNames() {
		if a := cfg.Partners[p].Approval; a.Enabled() {
			deciding = append(deciding, p)
			if a.Deadline > 0 {
				deadlines[p] = metrics.Deadline{After: a.Deadline, Action: a.OnDeadline}
			}
		}
	}
	// Read every 15 s (a common scrape interval).
	bl := metrics.NewVisibilityBacklog(tc, deciding, 15*time.Second, log)
	bl.Deadlines = deadlines
	if err := bl.Register(exp.Meter); err != nil {
		return err
	}
	go bl.Run(ctx)
	// Audit failures are counted here (appends, the verifier): export
	// them at 0 from the start, so the first one shows as an increase.
	exp.Ferry.StartAuditFailuresAtZero(ctx)
	if every := cfg.Audit.VerifyInterval; every > 0 {
		v := &audit.Verifier{Files: files, Trails: trails, Progress: files, Metrics: exp.Ferry, Interval: every, Log: log}
		if anchors != nil {
			v.Anchors = anchors
		}
		go v.Run(ctx)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := temporalclient.CheckSearchAttributes(sctx, tc, cfg.Temporal.Namespace, log); err != nil {
		return err
	}
	if err := reconcile.EnsureSchedule(sctx, tc, cfg); err != nil {
		return err
	}
	if anchors == nil {
		log.Warn("audit anchoring is off (audit.anchor.bucket is not set): whoever can write the audit table can recompute a whole chain unnoticed; set a bucket with Object Lock")
	} else {
		if len(anchors.Key) == 0 {
			log.Warn("audit anchors are hashed, not signed (" + config.AnchorKeyEnv + " is not set): whoever can write to the anchor bucket can add a forged later anchor; set the key")
		}
		if err := anchor.EnsureSchedule(sctx, tc, cfg); err != nil {
			return err
		}
	}
	if err := expect.EnsureSchedules(sctx, tc, cfg.Temporal.TaskQueue, cfg.Expectations(), log); err != nil {
		return err
	}
	// A file is identified by its version ID; in an unversioned landing
	// bucket only by its ETag, so re-uploading identical bytes under the
	// same key is one file, and an overwrite can replace bytes before they
	// are read. Say so at start rather than let it surprise anyone.
	if v, err := aws.S3.GetBucketVersioning(sctx, &s3.GetBucketVersioningInput{Bucket: &cfg.Landing.Bucket}); err != nil {
		log.Warn("could not read the landing bucket's versioning", "bucket", cfg.Landing.Bucket, "error", err)
	} else if v.Status != s3types.BucketVersioningStatusEnabled {
		log.Warn("the landing bucket is not versioned: files are told apart by ETag only, so an identical re-upload is not a new file and an overwrite may replace bytes before they are inspected; enable versioning on it",
			"bucket", cfg.Landing.Bucket, "versioning", string(v.Status))
	}
	// Ready when Temporal answers and the resources every file needs
	// first do: the landing bucket it reads and the table it records in.
	// The scanner too when there is one: without it scanning partners'
	// files wait.
	checks := []health.Check{
		health.Temporal(tc, cfg.Temporal.Address),
		health.Bucket(aws.S3, cfg.Landing.Bucket),
		health.Table(aws.DynamoDB, cfg.DynamoDB.FilesTable),
	}
	if scan != nil {
		checks = append(checks, health.Check{Name: "clamd " + scan.Address(), Run: scan.Ping})
	}
	hc.Start(checks...)
	log.Info("worker starting", "temporal", cfg.Temporal.Address, "namespace", cfg.Temporal.Namespace, "task_queue", cfg.Temporal.TaskQueue,
		"stop_timeout", cfg.Worker.StopTimeout)
	// Run stops when ctx ends, letting in-flight activity attempts end
	// within worker.stop_timeout (they are retried elsewhere if they
	// cannot). Readiness goes first.
	stop := make(chan any)
	go func() { <-ctx.Done(); hc.Drain(); close(stop) }()
	return w.Run(stop)
}
