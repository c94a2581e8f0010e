package starter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/health"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/logging"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

func runBridge(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bridgeUntil(ctx, args)
}

// bridgeUntil runs the bridge until ctx ends (SIGINT/SIGTERM in runBridge),
// then shuts it down as the README describes.
func bridgeUntil(ctx context.Context, args []string) error {
	logging.Setup("bridge")
	fs := pflag.NewFlagSet("bridge", pflag.ContinueOnError)
	cfg, err := config.FromArgs(fs, args)
	if err != nil {
		return err
	}
	if cfg.Bridge.AuthToken == "" && cfg.Bridge.HMACSecret == "" {
		return errors.New("bridge.auth_token and bridge.hmac_secret are empty: set FERRY_BRIDGE_AUTH_TOKEN (or FERRY_BRIDGE_HMAC_SECRET) to what the event sender presents")
	}
	log := logging.Configure("bridge", cfg.Log.Format, cfg.Log.Level)
	// Bound first: a bridge that cannot serve its metrics does not start.
	// Its health endpoints share the port ("starting" until it listens).
	hc := health.New(log)
	exp, stopMetrics, err := metrics.Start(metrics.BridgeService, "metrics.bridge_listen", cfg.Metrics.BridgeListen, cfg.PartnerNames(), hc.Handler(), log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	tc, err := temporalclient.DialWithMetrics(cfg.Temporal, log, exp.TemporalHandler())
	if err != nil {
		return err
	}
	defer tc.Close()
	sactx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err = temporalclient.CheckSearchAttributes(sactx, tc, cfg.Temporal.Namespace, log)
	cancel()
	if err != nil {
		return err
	}

	// One intake for HTTP and SQS: both sources share its bound.
	in := &intake.Intake{Config: cfg, Temporal: tc, Log: log, Metrics: exp.Ferry, Arrivals: tc}
	b := &bridge.Bridge{Intake: in, Log: log}
	srv := &http.Server{Addr: cfg.Bridge.Listen, Handler: b.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := context.WithCancel(ctx)
	defer stop()

	// Ready when Temporal answers, and the queue does when there is one:
	// the bridge uses no other AWS service.
	checks := []health.Check{health.Temporal(tc, cfg.Temporal.Address)}
	var consumer *bridge.Consumer
	if cfg.Bridge.SQS.Queue != "" {
		aws, err := awsclients.Load(ctx, cfg.S3.PathStyle)
		if err != nil {
			return err
		}
		consumer = &bridge.Consumer{Intake: in, SQS: aws.SQS, Config: cfg.Bridge.SQS, Log: log.With("source", "sqs")}
		checks = append(checks, health.Queue(aws.SQS, cfg.Bridge.SQS.Queue))
	}
	// Bound before readiness starts, so ready means the events endpoint
	// takes requests, and a port in use stops the start here.
	ln, err := net.Listen("tcp", cfg.Bridge.Listen)
	if err != nil {
		return fmt.Errorf("bridge.listen %s: %w", cfg.Bridge.Listen, err)
	}
	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("bridge server on %s: %w", cfg.Bridge.Listen, srv.Serve(ln)) }()
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
	hc.Start(checks...)
	log.Info("bridge listening", "address", cfg.Bridge.Listen, "path", bridge.EventsPath, "landing_bucket", cfg.Landing.Bucket, "sqs_queue", cfg.Bridge.SQS.Queue)
	var runErr error
	select {
	case runErr = <-errc:
		stop()
	case <-ctx.Done():
	}
	hc.Drain()
	// SIGTERM: stop receiving; finish in-flight HTTP requests (their events
	// are acknowledged only after their starts are durable, or not at all
	// and then retried by the sender) and SQS messages (finished within
	// bridge.sqs.shutdown_grace, else released back to the queue).
	log.Info("bridge shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), bridge.HTTPShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && runErr == nil {
		runErr = fmt.Errorf("stopping the bridge server: %w", err)
	}
	<-consumed
	log.Info("bridge stopped")
	return runErr
}
