// Package metrics holds Ferry's Prometheus metrics: their names, their
// bounded label values, the OpenTelemetry meter provider that feeds both
// Ferry's instruments and the Temporal SDK's, and the /metrics endpoint.
//
// Label values come only from fixed sets: partners from the config (any
// other name is "other"), outcomes, sources, results and reason classes
// from the constants below. Object keys and file IDs are never labels:
// they would make a series per file.
package metrics

// Metric names, as Prometheus shows them. Workflow code records through
// the Temporal SDK's replay-safe handler (workflow.GetMetricsHandler),
// everything else through Instruments.
const (
	// FilesTotal counts files that reached an outcome (counter; partner,
	// outcome: delivered, quarantined, approved, rejected, failed).
	FilesTotal = "ferry_files_total"
	// QuarantinedFilesTotal counts quarantined files by the class of
	// their first reason (counter; partner, reason: rules.ReasonClasses,
	// "other" when unknown). It sums to FilesTotal{outcome="quarantined"},
	// which keeps its labels so existing queries stay as they are.
	QuarantinedFilesTotal = "ferry_quarantined_files_total"
	// BytesDeliveredTotal counts the bytes of delivered files (counter;
	// partner).
	BytesDeliveredTotal = "ferry_delivered_bytes_total"
	// EndToEndLatency is from the object's event time (written to landing)
	// to its recorded delivery, in workflow time (histogram, seconds;
	// partner).
	EndToEndLatency = "ferry_file_e2e_latency_seconds"
	// StageDuration is how long one attempt of a stage's activity took
	// (histogram, seconds; partner, stage: inspect, deliver, quarantine,
	// reject).
	StageDuration = "ferry_stage_duration_seconds"
	// QuarantineBacklog is how many files wait for a decision (gauge;
	// partner), read from Temporal visibility, so it is right after a
	// restart.
	QuarantineBacklog = "ferry_quarantine_backlog"
	// QuarantineOldestAge is how long the oldest waiting file has waited
	// since its workflow started (gauge, seconds; partner; 0 when none
	// waits), read from Temporal visibility like QuarantineBacklog.
	QuarantineOldestAge = "ferry_quarantine_oldest_age_seconds"
	// QuarantineDeadline is a partner's approval deadline from the config
	// (gauge, seconds; partner, action: reject or escalate, what the
	// deadline does; only partners with approvers and a deadline), so alert
	// rules can compare QuarantineOldestAge with it.
	QuarantineDeadline = "ferry_quarantine_deadline_seconds"
	// DecisionsTotal counts approval decisions (counter; partner, kind:
	// approve, reject; result: accepted, refused; class: the refusal class,
	// "none" when accepted).
	DecisionsTotal = "ferry_decisions_total"
	// RemindersTotal counts reminders sent for waiting files (counter;
	// partner).
	RemindersTotal = "ferry_reminders_total"
	// EscalationsTotal counts files escalated at their deadline (counter;
	// partner).
	EscalationsTotal = "ferry_escalations_total"
	// DeadlineRejectionsTotal counts files rejected at their deadline
	// (counter; partner).
	DeadlineRejectionsTotal = "ferry_deadline_rejections_total"
	// NotificationFailuresTotal counts notifications that could not be
	// sent after their retries (counter; partner, type: file.delivered ...).
	NotificationFailuresTotal = "ferry_notification_failures_total"
	// AuditVerificationFailuresTotal counts audit trails found broken
	// (counter; partner; exported at 0 by the worker from its start): an
	// append that met another entry under its number (someone wrote into
	// the chain), and a chain the worker's periodic verifier
	// (audit.verify_interval) recomputed and found edited or missing
	// entries, once per break and process. Above zero, look at the logs
	// (file_id) and run ferry audit.
	AuditVerificationFailuresTotal = "ferry_audit_verification_failures_total"
	// IntakeTotal counts object versions offered to intake (counter;
	// source: http, sqs, reconcile, backfill; result: started, duplicate,
	// ignored, known, busy, failed; reason: the ignore class, "none"
	// otherwise). A request refused before intake (4xx) is HTTPRefusedTotal.
	IntakeTotal = "ferry_intake_total"
	// IntakeThrottledTotal counts starts that found intake at its bound
	// (bridge.max_concurrent_starts or bridge.starts_per_second) and had
	// to wait for it (counter; source). Waiting is back-pressure, not
	// failure: an HTTP request waits up to bridge.queue_wait and is then
	// answered 503 (IntakeTotal's busy), an SQS message waits hidden for
	// as long as it takes, the rest stay on the queue. Rising, the bridge
	// is saturated: more replicas or a higher bound, if Temporal keeps up.
	IntakeThrottledTotal = "ferry_intake_throttled_total"
	// HTTPRefusedTotal counts event requests the bridge refused with a 4xx
	// (counter; code: 400, 401, 413).
	HTTPRefusedTotal = "ferry_bridge_http_refused_total"
	// SQSMessagesTotal counts SQS messages by what happened to them
	// (counter; action: received, deleted, dead_lettered, retried,
	// released).
	SQSMessagesTotal = "ferry_sqs_messages_total"
	// ReconcileStartedTotal counts files the reconciler found that no event
	// had started (counter; partner). Above zero, events are being lost.
	ReconcileStartedTotal = "ferry_reconcile_files_without_event_total"
	// ExpectationsLateTotal counts occurrences of expectations whose
	// file had not come by warn_at (counter; partner, expectation: its
	// name in the config), recorded by the ExpectFile workflow.
	ExpectationsLateTotal = "ferry_expectations_late_total"
	// ExpectationsMissingTotal counts occurrences whose file had not
	// come by the deadline (counter; partner, expectation).
	ExpectationsMissingTotal = "ferry_expectations_missing_total"
	// ExpectationsArrivedLateTotal counts missing files that came after
	// their deadline, before the next window (counter; partner,
	// expectation).
	ExpectationsArrivedLateTotal = "ferry_expectations_arrived_late_total"
	// BackfillFilesTotal counts what backfills did with the versions they
	// listed (counter; partner, result: started, known, ignored).
	BackfillFilesTotal = "ferry_backfill_files_total"
)

// Outcomes of a file (FilesTotal's outcome label).
const (
	Delivered   = "delivered"
	Quarantined = "quarantined"
	Approved    = "approved"
	Rejected    = "rejected"
	Failed      = "failed"
)

// Label names.
const (
	LabelPartner = "partner"
	LabelOutcome = "outcome"
	LabelStage   = "stage"
	LabelKind    = "kind"
	LabelResult  = "result"
	LabelClass   = "class"
	LabelType    = "type"
	LabelSource  = "source"
	LabelReason  = "reason"
	LabelAction  = "action"
	LabelCode    = "code"
	// LabelExpectation is an expectation's name, bounded by the config.
	LabelExpectation = "expectation"
)

// Other is the label value for anything outside a fixed set: an
// unconfigured partner, an unknown source or class.
const Other = "other"

// None is the class or reason label when there is none to give.
const None = "none"

// Partners bounds the partner label to the configured partners.
type Partners map[string]bool

// NewPartners returns the set of the configured partner names.
func NewPartners(names []string) Partners {
	p := make(Partners, len(names))
	for _, n := range names {
		p[n] = true
	}
	return p
}

// Label is name when it is a configured partner, else Other: a key
// naming an unknown partner must not create a series of its own.
func (p Partners) Label(name string) string {
	if p[name] {
		return name
	}
	return Other
}

var sources = map[string]bool{"http": true, "sqs": true, "reconcile": true, "backfill": true}

// Source is the transport of a workflow input's Source ("http/s3",
// "sqs/sns/eventbridge", "reconcile", "backfill") as a label value.
func Source(via string) string {
	for i := range len(via) {
		if via[i] == '/' {
			via = via[:i]
			break
		}
	}
	if sources[via] {
		return via
	}
	return Other
}

// Class returns class when it is one of allowed, else Other; "" is None.
func Class(class string, allowed ...string) string {
	if class == "" {
		return None
	}
	for _, a := range allowed {
		if class == a {
			return class
		}
	}
	return Other
}

// IgnoreClasses are the reasons intake ignores an object version for
// (intake.Plan.ReasonClass).
var IgnoreClasses = []string{"not_created", "other_bucket", "folder_marker", "outside_prefix", "unknown_partner", "outside_inbound", "sidecar", "temporary"}
