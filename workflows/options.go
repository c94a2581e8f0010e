package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
)

// Activity options live beside each kind of step, chosen for that step.
//
// Records and notifications are short and idempotent, so they run as local
// activities: each saves about 100 ms of task dispatch on this stack
// (../shared/DESIGN.md, measured). Inspection and delivery stream or copy
// bytes for as long as a file takes, so they are regular activities that
// any worker may pick up and that heartbeat.

// recordCtx runs the writes of the file's record and audit trail. They
// are retried for as long as DynamoDB is unreachable, never given up: a
// status or an audit entry that is dropped leaves the record wrong, or a
// hole in the chain that reads as tampering. A conflict (the record is
// past the status; another entry holds the number) is final.
func recordCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		// Without it a local activity gives up after StartToCloseTimeout.
		// A year stands for "until it is written": an outage that long is
		// a disaster recovery, not a retry.
		ScheduleToCloseTimeout: 365 * 24 * time.Hour,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        200 * time.Millisecond,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrStatusConflict, activities.ErrAuditConflict},
		},
	})
}

func notifyCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    15 * time.Second,
		ScheduleToCloseTimeout: 30 * time.Minute, // a receiver down for half an hour is told in the reasons
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        5 * time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrNotifyRefused},
		},
	})
}

func inspectCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Long enough to stream the largest object S3 holds (5 TiB) at a
		// modest rate; the heartbeat timeout is what catches a stuck read.
		StartToCloseTimeout:    24 * time.Hour,
		HeartbeatTimeout:       30 * time.Second,
		ScheduleToCloseTimeout: inspectWaits,
		RetryPolicy:            inspectRetry(),
	})
}

// inspectWaits is how long a file waits out an outage of what inspection
// needs (S3, the malware scanner): up to a week, retried every 2 minutes
// and shown as the pending activity's last failure. An attempt count
// would fail files because clamd restarted for a database update.
const inspectWaits = 7 * 24 * time.Hour

func inspectRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    2 * time.Minute,
		NonRetryableErrorTypes: []string{
			activities.ErrRuleViolation, activities.ErrObjectVanished, activities.ErrChecksumMismatch,
		},
	}
}

// A small file (ingest.Input.SmallFileMaxBytes) is inspected and
// delivered by local activities: each saves a dispatch through the
// server (about 100 ms here), and the whole file usually runs in one
// workflow task. They cannot heartbeat and show no pending activity, so
// they are for the path where nothing goes wrong: bounded in time, tried
// a few times within seconds, and then — S3 or the scanner down, a slow
// read — the step is handed to the regular activity, which waits out the
// outage for as long as its own policy says and shows why it waits. A
// worker that dies mid-way leaves its workflow task to time out, and the
// next worker runs them again (both are idempotent). Inspection refuses,
// as ErrNotSmall, what it must not read that way.
func smallCtx(ctx workflow.Context, retry *temporal.RetryPolicy) workflow.Context {
	retry.MaximumAttempts = 3 // 1 s and 2 s apart
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 2 * time.Minute,
		RetryPolicy:            retry,
	})
}

// deliverMaxAttempts is also passed to the copying activities (Deliver,
// Quarantine, Reject), whose last attempt aborts a multipart upload it
// cannot finish. It is a count only so that the activity knows its last
// attempt: at the policy's 2-minute cap it spans a week, as inspection's
// ScheduleToCloseTimeout does, so a file waits out an outage of S3 at any
// step (10 attempts gave up after about 6 minutes, failing every file
// being copied; the fault suite's 30 s MinIO outage used 6 of them).
const deliverMaxAttempts = 7 * 24 * 60 / 2

func deliverCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A multipart copy of the largest object S3 holds takes hours; the
		// heartbeat (every 5 s while copying) is what catches a dead worker,
		// whose successor continues the same multipart upload.
		StartToCloseTimeout: 12 * time.Hour,
		HeartbeatTimeout:    20 * time.Second,
		RetryPolicy:         deliverRetry(),
	})
}

func deliverRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        time.Second,
		BackoffCoefficient:     2,
		MaximumInterval:        2 * time.Minute,
		MaximumAttempts:        deliverMaxAttempts,
		NonRetryableErrorTypes: []string{activities.ErrObjectVanished, activities.ErrDeliveryVerification, activities.ErrDestinationRefused},
	}
}

// sidecarCtx waits up to timeout for a partner's checksum sidecar: each
// attempt looks once, and the retry policy's backoff (capped at 30 s) is
// the wait, kept by the server as timers, so it survives worker restarts.
// sidecarLastLookCtx is the look that decides once the sidecar's wait ran
// out during an outage: S3's answer, missing or found, is final, and an
// outage is waited out as inspection waits (a file is not quarantined as
// "sidecar missing" because S3 was down when its wait ended).
func sidecarLastLookCtx(ctx workflow.Context) workflow.Context {
	retry := inspectRetry()
	retry.NonRetryableErrorTypes = []string{activities.ErrSidecarMissing, activities.ErrSidecarInvalid}
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: inspectWaits,
		RetryPolicy:            retry,
	})
}

func sidecarCtx(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: timeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        2 * time.Second,
			BackoffCoefficient:     1.5,
			MaximumInterval:        30 * time.Second,
			NonRetryableErrorTypes: []string{activities.ErrSidecarInvalid},
		},
	})
}
