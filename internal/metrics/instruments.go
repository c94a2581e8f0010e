package metrics

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Instruments are Ferry's instruments outside workflow code (bridge,
// intake, activities, reconciler, backfill). A nil *Instruments records
// nothing, so tests and commands without an endpoint pass none.
type Instruments struct {
	partners Partners

	intake, throttled, httpRefused, sqs, reconciled, backfill, auditFailures metric.Int64Counter
	stage                                                                    metric.Float64Histogram
}

// NewInstruments creates the instruments on meter; partners bounds the
// partner label.
func NewInstruments(meter metric.Meter, partners []string) (*Instruments, error) {
	in := &Instruments{partners: NewPartners(partners)}
	var err error
	counter := func(name, desc string) metric.Int64Counter {
		c, e := meter.Int64Counter(name, metric.WithDescription(desc))
		if err == nil {
			err = e
		}
		return c
	}
	in.intake = counter(IntakeTotal, "Object versions offered to intake, by source, result and ignore reason.")
	in.throttled = counter(IntakeThrottledTotal, "Starts that found intake at its bound (bridge.max_concurrent_starts, bridge.starts_per_second) and waited, by source.")
	in.httpRefused = counter(HTTPRefusedTotal, "Event requests the bridge refused with a 4xx, by status code.")
	in.sqs = counter(SQSMessagesTotal, "SQS messages by what the bridge did with them.")
	in.reconciled = counter(ReconcileStartedTotal, "Files the reconciler started because no event had: above zero, events are being lost.")
	in.backfill = counter(BackfillFilesTotal, "What backfills did with the versions they listed.")
	in.auditFailures = counter(AuditVerificationFailuresTotal, "Audit trails found broken: an append that met another entry under its number, or a chain the periodic verifier found edited or missing entries.")
	if err != nil {
		return nil, err
	}
	in.stage, err = meter.Float64Histogram(StageDuration, metric.WithUnit("s"), metric.WithDescription("Duration of one attempt of a stage's activity."))
	if err != nil {
		return nil, err
	}
	return in, nil
}

// Partner is the partner label value for name.
func (in *Instruments) Partner(name string) string {
	if in == nil {
		return Other
	}
	return in.partners.Label(name)
}

// Intake counts one object version: source is the input's Source
// ("http/s3", "reconcile", ...), result one of the intake results,
// reasonClass the ignore class or "".
func (in *Instruments) Intake(ctx context.Context, source, result, reasonClass string) {
	if in == nil {
		return
	}
	in.intake.Add(ctx, 1, metric.WithAttributes(
		attribute.String(LabelSource, Source(source)),
		attribute.String(LabelResult, Class(result, IntakeResults...)),
		attribute.String(LabelReason, Class(reasonClass, IgnoreClasses...)),
	))
}

// Throttled counts one start that waited for intake's bound; source is
// the input's Source.
func (in *Instruments) Throttled(ctx context.Context, source string) {
	if in == nil {
		return
	}
	in.throttled.Add(ctx, 1, metric.WithAttributes(attribute.String(LabelSource, Source(source))))
}

// IntakeResults are the result label's values.
var IntakeResults = []string{"started", "duplicate", "ignored", "known", "busy", "failed"}

// HTTPRefused counts one event request refused with code (4xx).
func (in *Instruments) HTTPRefused(ctx context.Context, code int) {
	if in == nil {
		return
	}
	in.httpRefused.Add(ctx, 1, metric.WithAttributes(attribute.String(LabelCode, strconv.Itoa(code))))
}

// SQSActions are the action label's values of SQSMessagesTotal.
var SQSActions = []string{"received", "deleted", "dead_lettered", "retried", "released"}

// SQS counts n messages that had action done to them.
func (in *Instruments) SQS(ctx context.Context, action string, n int) {
	if in == nil || n == 0 {
		return
	}
	in.sqs.Add(ctx, int64(n), metric.WithAttributes(attribute.String(LabelAction, Class(action, SQSActions...))))
}

// Reconciled counts one file the reconciler started.
func (in *Instruments) Reconciled(ctx context.Context, partner string) {
	if in == nil {
		return
	}
	in.reconciled.Add(ctx, 1, metric.WithAttributes(attribute.String(LabelPartner, in.Partner(partner))))
}

// Backfilled counts one listed version of a backfill: result is started,
// known or ignored.
func (in *Instruments) Backfilled(ctx context.Context, partner, result string) {
	if in == nil {
		return
	}
	in.backfill.Add(ctx, 1, metric.WithAttributes(
		attribute.String(LabelPartner, in.Partner(partner)),
		attribute.String(LabelResult, Class(result, "started", "known", "ignored")),
	))
}

// Stages are the stage label's values.
var Stages = []string{"inspect", "deliver", "quarantine", "reject"}

// Stage records how long one attempt of a stage took.
func (in *Instruments) Stage(ctx context.Context, partner, stage string, d time.Duration) {
	if in == nil {
		return
	}
	in.stage.Record(ctx, d.Seconds(), metric.WithAttributes(
		attribute.String(LabelPartner, in.Partner(partner)),
		attribute.String(LabelStage, Class(stage, Stages...)),
	))
}

// StartAuditFailuresAtZero exports AuditVerificationFailuresTotal at 0
// for every partner (and "other") before anything is counted. A series
// that first appears at 1 has no earlier sample, so increase() and rate()
// miss that first failure: the one that matters. Only the worker, which
// counts them, calls it.
func (in *Instruments) StartAuditFailuresAtZero(ctx context.Context) {
	if in == nil {
		return
	}
	for p := range in.partners {
		in.auditFailures.Add(ctx, 0, metric.WithAttributes(attribute.String(LabelPartner, p)))
	}
	in.auditFailures.Add(ctx, 0, metric.WithAttributes(attribute.String(LabelPartner, Other)))
}

// AuditVerificationFailed counts one audit trail of partner's found
// broken. The file ID belongs in the log line beside it, never here.
func (in *Instruments) AuditVerificationFailed(ctx context.Context, partner string) {
	if in == nil {
		return
	}
	in.auditFailures.Add(ctx, 1, metric.WithAttributes(attribute.String(LabelPartner, in.Partner(partner))))
}
