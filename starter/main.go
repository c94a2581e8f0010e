// Command starter holds the processes and operator commands that start or
// steer Ferry's workflows:
//
//	starter bridge   receive S3 event notifications (HTTP, and SQS when
//	                 bridge.sqs.queue is set) and start IngestFile
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/logging"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

const usage = `usage: starter <command> [flags]

commands:
  bridge   receive S3 event notifications (POST ` + bridge.EventsPath + `, and from the SQS queue bridge.sqs.queue)
           and start one IngestFile workflow per object version
  backfill --partner P [--prefix PATH] [--since TIME|DURATION] [--rate N] [--dry-run]:
           start ingestion for files already in landing (rate-limited, with progress and a final count)
  list     --status S and/or --partner P: list files from the record (newest first)
  show     --workflow-id ID: one file's record and its verified audit trail
  approve  --workflow-id ID --approver NAME --reason WHY [--key ~/.ssh/id_ed25519]: release a quarantined file
  reject   the same flags: reject it
  audit    --file-id ID: print a file's audit trail and verify its hash chain
           --partner NAME: verify the trail of every file of a partner (exit 1 names the first broken entry)

flags (every command): --config FILE (or FERRY_CONFIG), --temporal.address, --temporal.namespace, --bridge.listen
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bridge":
		err = runBridge(os.Args[2:])
	case "audit":
		err = runAudit(os.Args[2:], os.Stdout)
	case "list":
		err = runList(os.Args[2:], os.Stdout)
	case "show":
		err = runShow(os.Args[2:], os.Stdout)
	case "backfill":
		fi, _ := os.Stderr.Stat()
		err = runBackfill(os.Args[2:], os.Stdout, os.Stderr, fi != nil && fi.Mode()&os.ModeCharDevice != 0)
	case "approve", "reject":
		err = runDecide(os.Args[1], os.Args[2:], os.Stdout)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "starter: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}

func runBridge(args []string) error {
	log := logging.Setup("bridge")
	fs := pflag.NewFlagSet("bridge", pflag.ContinueOnError)
	config.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(fs)
	if err != nil {
		return err
	}
	if cfg.Bridge.AuthToken == "" && cfg.Bridge.HMACSecret == "" {
		return errors.New("bridge.auth_token and bridge.hmac_secret are empty: set FERRY_BRIDGE_AUTH_TOKEN (or FERRY_BRIDGE_HMAC_SECRET) to what the event sender presents")
	}
	tc, err := temporalclient.Dial(cfg.Temporal, log)
	if err != nil {
		return err
	}
	defer tc.Close()

	// One intake for HTTP and SQS: both sources share its bound.
	in := &intake.Intake{Config: cfg, Temporal: tc, Log: log}
	b := &bridge.Bridge{Intake: in, Log: log}
	srv := &http.Server{Addr: cfg.Bridge.Listen, Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var consumer *bridge.Consumer
	if cfg.Bridge.SQS.Queue != "" {
		aws, err := awsclients.Load(ctx, cfg.S3.PathStyle)
		if err != nil {
			return err
		}
		consumer = &bridge.Consumer{Intake: in, SQS: aws.SQS, Config: cfg.Bridge.SQS, Log: log.With("source", "sqs")}
	}
	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("bridge server on %s: %w", cfg.Bridge.Listen, srv.ListenAndServe()) }()
	consumed := make(chan struct{})
	if consumer != nil {
		go func() {
			defer close(consumed)
			if err := consumer.Run(ctx); err != nil {
				errc <- fmt.Errorf("SQS consumer: %w", err)
			}
		}()
	} else {
		close(consumed)
	}
	log.Info("bridge listening", "address", cfg.Bridge.Listen, "path", bridge.EventsPath, "landing_bucket", cfg.Landing.Bucket, "sqs_queue", cfg.Bridge.SQS.Queue)
	var runErr error
	select {
	case runErr = <-errc:
		stop()
	case <-ctx.Done():
	}
	// SIGTERM: stop receiving; finish in-flight HTTP requests (their events
	// are acknowledged only after their starts are durable, or not at all
	// and then retried by the sender) and SQS messages (finished within
	// bridge.sqs.shutdown_grace, else released back to the queue).
	log.Info("bridge shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && runErr == nil {
		runErr = fmt.Errorf("stopping the bridge server: %w", err)
	}
	<-consumed
	log.Info("bridge stopped")
	return runErr
}
