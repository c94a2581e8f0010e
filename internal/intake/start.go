package intake

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/ferrydata/ferry/internal/ingest"
)

// StartWhenFree starts a planned file (Decision Start), waiting at the
// bound for as long as ctx lasts. For callers that decide between plan and
// start, such as a backfill pacing itself to an operator's rate.
func (in *Intake) StartWhenFree(ctx context.Context, p Plan) error {
	if p.Decision != Start {
		return fmt.Errorf("intake: s3://%s/%s is planned %s, not start", p.Object.Bucket, p.Object.Key, p.Decision)
	}
	return in.start(ctx, p, 0)
}

// start starts the planned workflow within the bound. A duplicate — the
// same version started before — is accepted: the workflow exists.
func (in *Intake) start(ctx context.Context, p Plan, wait time.Duration) error {
	log := in.logger(p)
	via := p.Object.Via
	release, err := in.acquire(ctx, wait, via)
	if errors.Is(err, ErrBusy) {
		log.Warn("start deferred: the bridge is at its limit")
		in.Metrics.Intake(ctx, via, "busy", "")
	}
	if err != nil {
		return err
	}
	defer release()
	run, err := in.Temporal.ExecuteWorkflow(ctx, p.Options, ingest.WorkflowName, p.Input)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		log.Info("duplicate event: workflow already exists")
		in.Metrics.Intake(ctx, via, "duplicate", "")
		return in.announce(ctx, p)
	}
	if err != nil {
		in.Metrics.Intake(ctx, via, "failed", "")
		log.Error("could not start workflow", "error", err)
		return fmt.Errorf("starting workflow %s for s3://%s/%s: %w", p.WorkflowID, p.Object.Bucket, p.Object.Key, err)
	}
	in.Metrics.Intake(ctx, via, "started", "")
	log.Info("ingestion start accepted", "run_id", run.GetRunID())
	return in.announce(ctx, p)
}

// acquire waits for a start slot and the rate limiter, for at most wait
// (zero: as long as ctx lasts); the returned func gives the slot back.
// The bound is bridge.max_concurrent_starts and bridge.starts_per_second,
// for every source of the process together. A start that has to wait is
// counted as throttled when its wait begins, so a saturated bridge shows
// while it is saturated.
func (in *Intake) acquire(ctx context.Context, wait time.Duration, via string) (func(), error) {
	in.throttleOnce.Do(func() {
		c := in.Config.Bridge
		in.slots = semaphore.NewWeighted(int64(max(1, c.MaxConcurrentStarts)))
		in.limiter = rate.NewLimiter(rate.Limit(max(c.StartsPerSecond, 1)), max(1, c.MaxConcurrentStarts))
	})
	waitCtx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	busy := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return ErrBusy
	}
	waited := false
	throttled := func() {
		if !waited {
			waited = true
			in.Metrics.Throttled(ctx, via)
		}
	}
	if !in.slots.TryAcquire(1) {
		throttled()
		if in.slots.Acquire(waitCtx, 1) != nil {
			return nil, busy()
		}
	}
	if !in.limiter.Allow() {
		throttled()
		if in.limiter.Wait(waitCtx) != nil {
			in.slots.Release(1)
			return nil, busy()
		}
	}
	return func() { in.slots.Release(1) }, nil
}
