package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/rules"
)

// Metrics from workflow code go through the SDK's workflow metrics
// handler, which records nothing while a workflow replays: a file counts
// once however often its history is replayed. Recording issues no
// command, so the histories in testdata replay unchanged. The partner in
// the input was routed by the config when the file was started, so it is
// one of a bounded set.

// count adds one to the counter name with the file's partner and tags.
func (w *pipeline) count(ctx workflow.Context, name string, tags map[string]string) {
	all := map[string]string{metrics.LabelPartner: w.in.Partner}
	for k, v := range tags {
		all[k] = v
	}
	workflow.GetMetricsHandler(ctx).WithTags(all).Counter(name).Inc(1)
}

// outcomes are the statuses that FilesTotal counts.
var outcomes = map[filestatus.Status]string{
	filestatus.Delivered:   metrics.Delivered,
	filestatus.Quarantined: metrics.Quarantined,
	filestatus.Approved:    metrics.Approved,
	filestatus.Rejected:    metrics.Rejected,
	filestatus.Failed:      metrics.Failed,
}

// countOutcome counts a recorded status that is an outcome.
func (w *pipeline) countOutcome(ctx workflow.Context, s filestatus.Status) {
	if o, ok := outcomes[s]; ok {
		w.count(ctx, metrics.FilesTotal, map[string]string{metrics.LabelOutcome: o})
	}
}

// countQuarantine counts a recorded quarantine by the class of its first
// reason, the one `ferry list` shows, so the counts add up to the files
// quarantined. A class an older activity result lacks counts as "other",
// not "none": the file did break a rule.
func (w *pipeline) countQuarantine(ctx workflow.Context, class string) {
	reason := metrics.Other
	if class != "" {
		reason = metrics.Class(class, rules.ReasonClasses...)
	}
	w.count(ctx, metrics.QuarantinedFilesTotal, map[string]string{metrics.LabelReason: reason})
}

// countDelivery records a recorded delivery's bytes and its latency from
// the event (the object written) to now, in workflow time.
func (w *pipeline) countDelivery(ctx workflow.Context) {
	h := workflow.GetMetricsHandler(ctx).WithTags(map[string]string{metrics.LabelPartner: w.in.Partner})
	if w.state.Size > 0 {
		h.Counter(metrics.BytesDeliveredTotal).Inc(w.state.Size)
	}
	if !w.in.EventTime.IsZero() {
		if d := workflow.Now(ctx).Sub(w.in.EventTime); d >= 0 {
			h.Timer(metrics.EndToEndLatency).Record(d)
		}
	}
}

// countDecision counts a judged decision; class is the refusal's.
func (w *pipeline) countDecision(ctx workflow.Context, d approval.Decision, class string) {
	result := "accepted"
	if !d.Accepted {
		result = "refused"
	} else {
		class = ""
	}
	w.count(ctx, metrics.DecisionsTotal, map[string]string{
		metrics.LabelKind: d.Kind, metrics.LabelResult: result, metrics.LabelClass: metrics.Class(class, refusalClasses...),
	})
}

// refusalClasses are the class label's values of DecisionsTotal.
var refusalClasses = []string{
	approval.RefusedNoApprover, approval.RefusedNoReason, approval.RefusedNotQuarantined, approval.RefusedUploader,
	approval.RefusedNotApprover, approval.RefusedAlreadyDecided,
	refusedNoApprovers, refusedUnsigned, refusedBadSignature, refusedAuditFailed, refusedBatch,
}
