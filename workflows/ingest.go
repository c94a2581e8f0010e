// Package workflows holds Ferry's deterministic workflow code. Nothing here
// reads the clock, the environment, config files or random numbers: what a
// workflow needs travels in its input or comes back from an activity.
package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/rules"
)

// pipeline is one IngestFile execution's state.
type pipeline struct {
	in    *ingest.Input
	id    string
	state ingest.FileState
	// insp is what inspection learnt, also when the file broke a rule.
	insp activities.InspectResult
	// rejected is set by an accepted reject decision.
	rejected *approval.Decision
	// auditHead is the last entry of the file's audit chain.
	auditHead *audit.Entry
	// escalated is set when the deadline passed and escalation approvers
	// joined.
	escalated bool
}

// decided reports whether the file's quarantine is over: one accepted
// reject, or enough accepted approvals.
func (w *pipeline) decided() bool {
	return w.rejected != nil || approval.Approvals(w.state.Decisions) >= w.in.Approval.Required()
}

// policy is the approval policy in force now.
func (w *pipeline) policy() approval.Policy {
	if w.escalated {
		return w.in.Approval.Escalated()
	}
	return w.in.Approval
}

// nextAudit chains the next audit entry. Pure and deterministic (workflow
// time), so replays rebuild the same chain.
func (w *pipeline) nextAudit(ctx workflow.Context, actor, action, details string) *audit.Entry {
	e := audit.Next(w.auditHead, w.in.FileID, workflow.Now(ctx), actor, action, details)
	w.auditHead = &e
	return &e
}

// IngestFile takes one uploaded object version from received to delivered:
// record it, inspect it (one read: rules, SHA-256, stored checksum), copy it
// server-side to the partner's destination and verify the copy, record the
// outcome and notify. A rule violation ends the file as failed, with the
// reasons recorded and announced.
func IngestFile(ctx workflow.Context, in *ingest.Input) (*ingest.Result, error) {
	if err := in.Validate(workflow.GetInfo(ctx).WorkflowExecution.ID); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	w := &pipeline{in: in, id: workflow.GetInfo(ctx).WorkflowExecution.ID, state: ingest.FileState{
		FileID: in.FileID, Partner: in.Partner, Bucket: in.Bucket, Key: in.Key, VersionID: in.VersionID, Size: in.Size,
		RequiredApprovals: in.Approval.Required(),
	}}
	if err := workflow.SetQueryHandler(ctx, ingest.StatusQuery, func() (ingest.FileState, error) { return w.state, nil }); err != nil {
		return nil, fmt.Errorf("registering %s query: %w", ingest.StatusQuery, err)
	}
	// Decisions are judged the moment they arrive, against the file's
	// stage then: an approval sent before the file is quarantined is
	// refused, not kept for later.
	workflow.Go(ctx, w.receiveDecisions)
	if err := workflow.SetUpdateHandlerWithOptions(ctx, approval.DecideUpdate, w.decide, workflow.UpdateHandlerOptions{
		// Only requests that are not decisions at all are turned away
		// unrecorded; every real decision, refused or not, is judged and
		// kept by the handler.
		Validator: func(_ workflow.Context, req approval.DecideRequest) error {
			if req.Decision != approval.ApproveSignal && req.Decision != approval.RejectSignal {
				return fmt.Errorf(`decision must be "approve" or "reject", got %q`, req.Decision)
			}
			return nil
		},
	}); err != nil {
		return nil, fmt.Errorf("registering %s update: %w", approval.DecideUpdate, err)
	}
	return w.run(ctx)
}

func (w *pipeline) ref() activities.FileRef {
	return activities.FileRef{FileID: w.in.FileID, Partner: w.in.Partner, Bucket: w.in.Bucket, Key: w.in.Key, VersionID: w.in.VersionID, ETag: w.in.ETag}
}

func (w *pipeline) run(ctx workflow.Context) (*ingest.Result, error) {
	info := workflow.GetInfo(ctx)
	w.enter(ctx, filestatus.Received)

	var rec activities.RecordReceivedResult
	first := w.nextAudit(ctx, "ferry", "status:received", fmt.Sprintf("s3://%s/%s version %s, %s", w.in.Bucket, w.in.Key, w.in.VersionID, w.in.EventName))
	if err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.RecordReceivedName, &activities.RecordReceivedInput{
		File: w.ref(), Size: w.in.Size, RunID: info.WorkflowExecution.RunID, Audit: first,
	}).Get(ctx, &rec); err != nil {
		return nil, fmt.Errorf("recording %s as received: %w", w.in.FileID, err)
	}
	if rec.AuditHead != nil {
		// A re-run continues the file's existing trail.
		w.auditHead = rec.AuditHead
	}
	if rec.AlreadyKnown && rec.Status.Terminal() {
		// Only possible when this workflow ID was reused after an earlier
		// execution finished (history retention passed, or a manual
		// re-run): the record, not Temporal, is then what prevents a
		// second delivery.
		w.state.Stage, w.state.SHA256 = rec.Status, rec.SHA256
		w.state.DestBucket, w.state.DestKey, w.state.DestVersionID = rec.DestBucket, rec.DestKey, rec.DestVersionID
		workflow.GetLogger(ctx).Info("file was already handled; not ingesting again", "status", rec.Status)
		return &ingest.Result{Status: rec.Status, SHA256: rec.SHA256, DestBucket: rec.DestBucket, DestKey: rec.DestKey,
			DestVersionID: rec.DestVersionID, Duplicate: true}, nil
	}

	if err := w.move(ctx, filestore.Change{Status: filestatus.Inspecting}); err != nil {
		return nil, err
	}
	var insp activities.InspectResult
	err := workflow.ExecuteActivity(inspectCtx(ctx), activities.InspectName, &activities.InspectInput{
		File: w.ref(), Rules: w.in.Rules,
	}).Get(ctx, &insp)
	if v, ok := asViolation(err); ok {
		w.insp = v.Result
		w.state.SHA256, w.state.ContentType = v.Result.SHA256, v.Result.ContentType
		if v.Result.Size > 0 {
			w.state.Size = v.Result.Size
		}
		// Versioned: histories recorded before quarantine existed replay
		// down the old path.
		if w.in.QuarantineBucket != "" && workflow.GetVersion(ctx, "quarantine-on-violation", workflow.DefaultVersion, 1) == 1 {
			return w.quarantine(ctx, v.Reasons)
		}
		return w.fail(ctx, v.Reasons, nil)
	}
	if err != nil {
		return w.fail(ctx, []string{"inspection failed: " + failureMessage(err)}, err)
	}
	w.insp = insp
	w.state.Size, w.state.SHA256, w.state.ContentType = insp.Size, insp.SHA256, insp.ContentType
	w.state.S3ChecksumAlgorithm, w.state.S3Checksum = insp.S3ChecksumAlgorithm, insp.S3Checksum

	if w.in.Rules.Sidecar.Required && workflow.GetVersion(ctx, "sidecar-checksum", workflow.DefaultVersion, 1) == 1 {
		reasons, err := w.checkSidecar(ctx)
		if err != nil {
			return w.fail(ctx, []string{"checksum sidecar check failed: " + failureMessage(err)}, err)
		}
		if len(reasons) > 0 {
			return w.quarantine(ctx, reasons)
		}
	}

	return w.deliverFile(ctx, insp)
}

// deliverFile copies the inspected file to its destination, verifies and
// records the delivery, handles the source and notifies.
func (w *pipeline) deliverFile(ctx workflow.Context, insp activities.InspectResult) (*ingest.Result, error) {
	if err := w.move(ctx, filestore.Change{
		Status: filestatus.Delivering, SHA256: insp.SHA256, Size: insp.Size, ContentType: insp.ContentType,
		S3Checksum: insp.S3Checksum, S3ChecksumAlg: insp.S3ChecksumAlgorithm, PartnerSHA256: w.state.PartnerSHA256,
	}); err != nil {
		return nil, err
	}
	var del activities.DeliverResult
	if err := workflow.ExecuteActivity(deliverCtx(ctx), activities.DeliverName, &activities.DeliverInput{
		File: w.ref(), Inspection: insp, DestBucket: w.in.DestBucket, DestKey: w.in.DestKey, Governance: w.in.Governance,
		Copy: w.in.Copy, MaxAttempts: deliverMaxAttempts,
	}).Get(ctx, &del); err != nil {
		return w.fail(ctx, []string{"delivery failed: " + failureMessage(err)}, err)
	}
	w.state.DestBucket, w.state.DestKey, w.state.DestVersionID = del.DestBucket, del.DestKey, del.DestVersionID

	w.state.Encryption, w.state.RetentionMode, w.state.RetainUntil = del.Encryption, del.RetentionMode, del.RetainUntil
	w.state.DeliveryPartsResumed = del.PartsResumed

	if err := w.move(ctx, filestore.Change{
		Status: filestatus.Delivered, DestBucket: del.DestBucket, DestKey: del.DestKey, DestVersionID: del.DestVersionID,
		Encryption: del.Encryption, KMSKeyID: del.KMSKeyID, RetentionMode: del.RetentionMode, RetainUntil: del.RetainUntil,
	}); err != nil {
		return nil, err
	}
	w.handleSource(ctx, del.DestVersionID)
	w.notify(ctx, "file.delivered")
	return w.result(), nil
}

// checkSidecar waits (durably: the activity's retry policy is the wait) for
// the partner's <file>.sha256 and compares it with the SHA-256 inspection
// computed. It returns the reasons the file fails the check, or an error
// when the check itself could not be made.
func (w *pipeline) checkSidecar(ctx workflow.Context) ([]string, error) {
	sidecar := w.in.Key + rules.SidecarSuffix
	timeout := w.in.Rules.Sidecar.Timeout
	w.state.WaitingFor = fmt.Sprintf("checksum sidecar `%s` (up to %s)", sidecar, timeout)
	workflow.SetCurrentDetails(ctx, w.details())
	defer func() { w.state.WaitingFor = ""; workflow.SetCurrentDetails(ctx, w.details()) }()

	var sc activities.FetchSidecarResult
	err := workflow.ExecuteActivity(sidecarCtx(ctx, timeout), activities.FetchSidecarName, &activities.FetchSidecarInput{File: w.ref()}).Get(ctx, &sc)
	var app *temporal.ApplicationError
	var to *temporal.TimeoutError
	switch {
	case errors.As(err, &to) || (errors.As(err, &app) && app.Type() == activities.ErrSidecarMissing):
		return []string{fmt.Sprintf("no checksum sidecar %s arrived within %s, and this partner's policy requires one: upload it (sha256sum format)", sidecar, timeout)}, nil
	case errors.As(err, &app) && app.Type() == activities.ErrSidecarInvalid:
		return []string{app.Message()}, nil
	case err != nil:
		return nil, err
	}
	w.state.PartnerSHA256 = sc.SHA256
	if sc.SHA256 != w.state.SHA256 {
		return []string{fmt.Sprintf("checksum sidecar %s says SHA-256 %s, but the file read has %s: the file changed in transit or the sidecar is for another version",
			sidecar, sc.SHA256, w.state.SHA256)}, nil
	}
	return nil, nil
}

// quarantine copies a file that broke a rule to the quarantine bucket and
// records why. Approval or rejection by a person is a later stage; for now
// the workflow ends with the file quarantined.
func (w *pipeline) quarantine(ctx workflow.Context, reasons []string) (*ingest.Result, error) {
	w.state.Reasons = append(w.state.Reasons, reasons...)
	var q activities.QuarantineResult
	if err := workflow.ExecuteActivity(deliverCtx(ctx), activities.QuarantineName, &activities.QuarantineInput{
		File: w.ref(), Bucket: w.in.QuarantineBucket, Key: w.in.QuarantineKey, SHA256: w.state.SHA256,
		Size: w.state.Size, Copy: w.in.Copy, MaxAttempts: deliverMaxAttempts,
	}).Get(ctx, &q); err != nil {
		return w.fail(ctx, []string{"quarantine failed: " + failureMessage(err)}, err)
	}
	w.state.QuarantineBucket, w.state.QuarantineKey, w.state.QuarantineVersionID = q.Bucket, q.Key, q.VersionID
	if err := w.move(ctx, filestore.Change{
		Status: filestatus.Quarantined, Reasons: reasons, SHA256: w.state.SHA256, Size: w.state.Size, ContentType: w.state.ContentType,
		QuarantineBucket: q.Bucket, QuarantineKey: q.Key, QuarantineVersionID: q.VersionID,
	}); err != nil {
		return nil, err
	}
	w.notify(ctx, "file.quarantined")
	if !w.in.Approval.Enabled() || workflow.GetVersion(ctx, "await-decision", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return w.result(), nil
	}
	return w.awaitDecision(ctx)
}

// awaitDecision waits, durably and for as long as it takes, until enough
// approvers released the file or one rejected it — reminding while it
// waits and acting at the deadline when the partner's policy says so. The
// timers are the server's, so restarts of the worker or of Temporal do
// not reset them.
func (w *pipeline) awaitDecision(ctx workflow.Context) (*ingest.Result, error) {
	workflow.SetCurrentDetails(ctx, w.details())
	p := w.in.Approval
	start := workflow.Now(ctx)
	for !w.decided() {
		wait := p.ReminderInterval
		if p.Deadline > 0 && !w.escalated {
			left := start.Add(p.Deadline).Sub(workflow.Now(ctx))
			if wait <= 0 || left < wait {
				wait = left
			}
		}
		if wait <= 0 {
			// No reminder and no deadline left to act on: only a
			// decision ends the wait.
			if err := workflow.Await(ctx, w.decided); err != nil {
				return nil, err
			}
			break
		}
		ok, err := workflow.AwaitWithTimeout(ctx, wait, w.decided)
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
		overdue := p.Deadline > 0 && !w.escalated && !workflow.Now(ctx).Before(start.Add(p.Deadline))
		switch {
		case overdue && p.OnDeadline == approval.OnDeadlineReject:
			d := approval.Decision{Approver: "ferry", Kind: approval.RejectSignal, At: workflow.Now(ctx), Accepted: true,
				Reason: fmt.Sprintf("no decision within %s: rejected automatically as partner %s's policy says", p.Deadline, w.in.Partner)}
			w.recordDecision(ctx, d)
			w.rejected = &d
		case overdue && p.OnDeadline == approval.OnDeadlineEscalate:
			w.escalated = true
			w.audit(ctx, "ferry", "escalate", fmt.Sprintf("no decision within %s: %s may now decide too", p.Deadline, strings.Join(p.EscalationApprovers, ", ")))
			w.notify(ctx, "file.escalated")
			workflow.SetCurrentDetails(ctx, w.details())
		case p.ReminderInterval > 0:
			w.notify(ctx, "file.reminder")
		}
	}
	if d := w.rejected; d != nil {
		return w.reject(ctx, *d)
	}
	return w.release(ctx)
}

// recordDecision keeps a decision the pipeline itself took.
func (w *pipeline) recordDecision(ctx workflow.Context, d approval.Decision) {
	w.audit(ctx, d.Approver, "auto-"+d.Kind, d.Reason)
	w.state.Decisions = append(w.state.Decisions, d)
}

// audit appends one entry outside a status change; a failure is kept in
// the reasons.
func (w *pipeline) audit(ctx workflow.Context, actor, action, details string) {
	if err := w.appendAudit(ctx, actor, action, details); err != nil {
		workflow.GetLogger(ctx).Error("could not append to the audit trail", "action", action, "error", err)
		w.state.Reasons = append(w.state.Reasons, "audit entry "+action+" could not be written: "+failureMessage(err))
	}
}

// appendAudit chains and writes the next audit entry.
func (w *pipeline) appendAudit(ctx workflow.Context, actor, action, details string) error {
	return workflow.ExecuteLocalActivity(recordCtx(ctx), activities.AppendAuditName, w.nextAudit(ctx, actor, action, details)).Get(ctx, nil)
}

// receiveDecisions judges every approve and reject signal as it arrives.
func (w *pipeline) receiveDecisions(ctx workflow.Context) {
	approveCh := workflow.GetSignalChannel(ctx, approval.ApproveSignal)
	rejectCh := workflow.GetSignalChannel(ctx, approval.RejectSignal)
	for {
		var p approval.Payload
		var kind string
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(approveCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &p); kind = approval.ApproveSignal })
		sel.AddReceive(rejectCh, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &p); kind = approval.RejectSignal })
		sel.Select(ctx)
		w.judge(ctx, p, kind)
	}
}

// decide is the decide Update: the same judgement as a signal, answered.
func (w *pipeline) decide(ctx workflow.Context, req approval.DecideRequest) (approval.DecideResult, error) {
	d := w.judge(ctx, approval.Payload{Approver: req.Approver, Reason: req.Reason, Signature: req.Signature}, req.Decision)
	if !d.Accepted {
		return approval.DecideResult{}, temporal.NewApplicationError("decision refused: "+d.Refusal, approval.ErrRefused)
	}
	res := approval.DecideResult{Decision: req.Decision, Approvals: approval.Approvals(w.state.Decisions), Required: w.in.Approval.Required()}
	switch {
	case req.Decision == approval.RejectSignal:
		res.Outcome = "rejected"
	case res.Approvals >= res.Required:
		res.Outcome = "released"
	default:
		res.Outcome = fmt.Sprintf("waiting for %d more approvals", res.Required-res.Approvals)
	}
	return res, nil
}

// judge records one decision, accepted or refused with the reason.
func (w *pipeline) judge(ctx workflow.Context, p approval.Payload, kind string) approval.Decision {
	d := approval.Decision{Approver: p.Approver, Reason: p.Reason, Kind: kind, At: workflow.Now(ctx)}
	refusal := ""
	switch {
	case !w.policy().Enabled():
		refusal = fmt.Sprintf("partner %s has no approvers configured: its quarantined files cannot be released by signal", w.in.Partner)
	case w.decided():
		refusal = "the file has already been decided on"
	default:
		refusal = w.policy().Check(approval.State{
			Partner: w.in.Partner, Uploader: w.in.Uploader, Stage: string(w.state.Stage), Decisions: w.state.Decisions,
		}, p, kind)
	}
	if refusal == "" {
		refusal = w.checkSignature(p, kind, &d)
	}
	d.Accepted, d.Refusal = refusal == "", refusal
	// The decision is on record before it takes effect.
	if workflow.GetVersion(ctx, "audit-decisions", workflow.DefaultVersion, 1) == 1 {
		action, details := kind, d.Reason
		if d.Signed {
			details += fmt.Sprintf(" [signed by %s at %s: %s]", d.Approver, d.SignedAt.UTC().Format(time.RFC3339), d.Meaning)
		}
		if !d.Accepted {
			action, details = "refused:"+kind, d.Refusal+" (reason given: "+d.Reason+")"
		}
		actor := d.Approver
		if actor == "" {
			actor = "(anonymous)"
		}
		if err := w.appendAudit(ctx, actor, action, details); err != nil {
			workflow.GetLogger(ctx).Error("could not audit a decision; it is refused", "error", err)
			d.Accepted, d.Refusal = false, "the decision could not be written to the audit trail: "+failureMessage(err)
		}
	}
	w.state.Decisions = append(w.state.Decisions, d)
	if d.Accepted {
		workflow.GetLogger(ctx).Info("decision accepted", "kind", kind, "approver", d.Approver, "reason", d.Reason)
		if kind == approval.RejectSignal {
			w.rejected = &d
		}
	} else {
		workflow.GetLogger(ctx).Warn("decision refused", "kind", kind, "approver", d.Approver, "refusal", refusal)
	}
	workflow.SetCurrentDetails(ctx, w.details())
	return d
}

// checkSignature verifies a signed decision against the approver's key and
// records its manifestation, or says why the decision must be refused.
func (w *pipeline) checkSignature(p approval.Payload, kind string, d *approval.Decision) string {
	pol := w.policy()
	if p.Signature == nil {
		if pol.RequireSignatures {
			return fmt.Sprintf("partner %s requires signed decisions: sign with `starter %s --workflow-id %s --approver %s --key ~/.ssh/id_ed25519 --reason \"...\"`",
				w.in.Partner, kind, w.id, p.Approver)
		}
		return ""
	}
	key := pol.ApproverKeys[p.Approver]
	if key == "" {
		return fmt.Sprintf("the decision is signed but no public key is configured for %s (approval.approver_keys)", p.Approver)
	}
	manifest := approval.Manifest(w.id, w.state.SHA256, kind, p.Approver, p.Reason, p.Signature.SignedAt)
	if err := approval.VerifySignature(key, manifest, p.Signature); err != nil {
		return err.Error()
	}
	d.Signed, d.SignedAt, d.Meaning = true, p.Signature.SignedAt, approval.Meaning(kind)
	return ""
}

// release delivers a quarantined file that enough approvers approved.
func (w *pipeline) release(ctx workflow.Context) (*ingest.Result, error) {
	var who []string
	for _, d := range w.state.Decisions {
		if d.Accepted && d.Kind == approval.ApproveSignal {
			who = append(who, fmt.Sprintf("approved by %s: %s", d.Approver, d.Reason))
		}
	}
	if err := w.move(ctx, filestore.Change{Status: filestatus.Approved, Reasons: who}); err != nil {
		return nil, err
	}
	insp := w.insp
	if insp.SHA256 == "" {
		// The rule that quarantined the file was found before its bytes
		// were read: read them now, for the checksum the delivery is
		// verified against.
		if err := workflow.ExecuteActivity(inspectCtx(ctx), activities.InspectName, &activities.InspectInput{File: w.ref()}).Get(ctx, &insp); err != nil {
			return w.fail(ctx, []string{"reading the approved file failed: " + failureMessage(err)}, err)
		}
		w.state.Size, w.state.SHA256, w.state.ContentType = insp.Size, insp.SHA256, insp.ContentType
	}
	return w.deliverFile(ctx, insp)
}

// reject moves the quarantined copy under the rejected prefix and records
// the file as rejected.
func (w *pipeline) reject(ctx workflow.Context, d approval.Decision) (*ingest.Result, error) {
	var r activities.QuarantineResult
	if err := workflow.ExecuteActivity(deliverCtx(ctx), activities.RejectName, &activities.RejectInput{
		File: w.ref(), QuarantineBucket: w.state.QuarantineBucket, QuarantineKey: w.state.QuarantineKey,
		QuarantineVer: w.state.QuarantineVersionID, RejectedKey: w.in.RejectedKey, Size: w.state.Size, SHA256: w.state.SHA256,
		MaxAttempts: deliverMaxAttempts,
	}).Get(ctx, &r); err != nil {
		return w.fail(ctx, []string{"moving the rejected file failed: " + failureMessage(err)}, err)
	}
	w.state.QuarantineKey, w.state.QuarantineVersionID = r.Key, r.VersionID
	reason := fmt.Sprintf("rejected by %s: %s", d.Approver, d.Reason)
	w.state.Reasons = append(w.state.Reasons, reason)
	if err := w.move(ctx, filestore.Change{
		Status: filestatus.Rejected, Reasons: []string{reason}, QuarantineKey: r.Key, QuarantineVersionID: r.VersionID,
	}); err != nil {
		return nil, err
	}
	w.notify(ctx, "file.rejected")
	return w.result(), nil
}

// handleSource deletes or tags the landing version once its delivery is
// verified and recorded, per the partner's policy. A failure here does not
// undo the delivery: it is logged and kept in the reasons.
func (w *pipeline) handleSource(ctx workflow.Context, destVersion string) {
	action := w.in.Governance.SourceAfterDelivery
	if action == "" || action == governance.Keep {
		return
	}
	if workflow.GetVersion(ctx, "source-after-delivery", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return
	}
	err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.HandleSourceName, &activities.HandleSourceInput{
		File: w.ref(), Action: action, DestVersionID: destVersion,
	}).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(ctx).Error("handling the source after delivery failed", "action", action, "error", err)
		w.state.Reasons = append(w.state.Reasons, "source "+action+" after delivery failed: "+failureMessage(err))
	}
}

// fail records the file as failed with reasons and announces it. cause is
// the infrastructure error that led here, or nil for a rule violation: a
// violation is an outcome (the workflow completes), an infrastructure
// failure also fails the workflow so it stands out in the UI.
func (w *pipeline) fail(ctx workflow.Context, reasons []string, cause error) (*ingest.Result, error) {
	w.state.Reasons = append(w.state.Reasons, reasons...)
	if err := w.move(ctx, filestore.Change{Status: filestatus.Failed, Reasons: reasons}); err != nil {
		return nil, err
	}
	w.notify(ctx, "file.failed")
	if cause != nil {
		return nil, fmt.Errorf("file %s failed: %w", w.in.FileID, cause)
	}
	return w.result(), nil
}

// move records a status change in DynamoDB, then makes it visible to
// operators (search attribute, current details, status query).
func (w *pipeline) move(ctx workflow.Context, c filestore.Change) error {
	err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.RecordStatusName, &activities.RecordStatusInput{
		FileID: w.in.FileID, Change: c, Audit: w.nextAudit(ctx, "ferry", "status:"+string(c.Status), changeDetails(c)),
	}).Get(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording %s as %s: %w", w.in.FileID, c.Status, err)
	}
	w.enter(ctx, c.Status)
	return nil
}

func (w *pipeline) enter(ctx workflow.Context, s filestatus.Status) {
	w.state.Stage = s
	w.state.History = append(w.state.History, ingest.StageChange{Status: s, At: workflow.Now(ctx)})
	if err := workflow.UpsertTypedSearchAttributes(ctx, ingest.FileStatusAttr.ValueSet(string(s))); err != nil {
		workflow.GetLogger(ctx).Warn("could not update FileStatus search attribute", "status", s, "error", err)
	}
	workflow.SetCurrentDetails(ctx, w.details())
}

// details is the "current details" the Temporal UI shows for the workflow.
func (w *pipeline) details() string {
	d := fmt.Sprintf("**%s** · partner `%s` · `s3://%s/%s`", w.state.Stage, w.in.Partner, w.in.Bucket, w.in.Key)
	if w.state.SHA256 != "" {
		d += fmt.Sprintf("\n\nSHA-256 `%s` (%d bytes)", w.state.SHA256, w.state.Size)
	}
	if w.state.WaitingFor != "" {
		d += "\n\nWaiting for " + w.state.WaitingFor
	}
	if w.state.DestVersionID != "" {
		d += fmt.Sprintf("\n\nDelivered to `s3://%s/%s` version `%s`", w.state.DestBucket, w.state.DestKey, w.state.DestVersionID)
	}
	if w.state.QuarantineVersionID != "" {
		d += fmt.Sprintf("\n\nQuarantined at `s3://%s/%s` version `%s` because:", w.state.QuarantineBucket, w.state.QuarantineKey, w.state.QuarantineVersionID)
	}
	for _, r := range w.state.Reasons {
		d += "\n\n- " + r
	}
	if w.state.Stage == filestatus.Quarantined && w.in.Approval.Enabled() {
		d += fmt.Sprintf("\n\n**Waiting for a decision** (%d of %d approvals; approvers: %s). Approve or reject with:\n\n"+
			"`temporal workflow signal --workflow-id %s --name approve --input '{\"approver\":\"<you>\",\"reason\":\"<why>\"}'`\n\n"+
			"`temporal workflow signal --workflow-id %s --name reject --input '{\"approver\":\"<you>\",\"reason\":\"<why>\"}'`",
			approval.Approvals(w.state.Decisions), w.in.Approval.Required(), strings.Join(w.policy().Approvers, ", "), w.id, w.id)
	}
	for _, dec := range w.state.Decisions {
		if !dec.Accepted {
			d += fmt.Sprintf("\n\n- refused %s from %s: %s", dec.Kind, dec.Approver, dec.Refusal)
		}
	}
	return d
}

// notify announces the outcome. A notification that cannot be sent does
// not undo a delivery: it is logged and kept in the reasons.
func (w *pipeline) notify(ctx workflow.Context, typ string) {
	s := w.state
	ev := notify.Event{
		Type: typ, FileID: s.FileID, Partner: s.Partner, Bucket: s.Bucket, Key: s.Key, VersionID: s.VersionID,
		Size: s.Size, SHA256: s.SHA256, Status: string(s.Stage), Reasons: s.Reasons,
		DestBucket: s.DestBucket, DestKey: s.DestKey, DestVer: s.DestVersionID, At: workflow.Now(ctx),
	}
	if err := workflow.ExecuteLocalActivity(notifyCtx(ctx), activities.NotifyName, &activities.NotifyInput{Event: ev}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("notification failed", "type", typ, "error", err)
		w.state.Reasons = append(w.state.Reasons, "notification "+typ+" failed: "+failureMessage(err))
	}
}

func (w *pipeline) result() *ingest.Result {
	s := w.state
	return &ingest.Result{Status: s.Stage, Reasons: s.Reasons, SHA256: s.SHA256, Size: s.Size,
		DestBucket: s.DestBucket, DestKey: s.DestKey, DestVersionID: s.DestVersionID, QuarantineVersionID: s.QuarantineVersionID,
		Decisions: s.Decisions}
}

// changeDetails says in one line what a status change carried.
func changeDetails(c filestore.Change) string {
	var parts []string
	if len(c.Reasons) > 0 {
		parts = append(parts, strings.Join(c.Reasons, "; "))
	}
	if c.SHA256 != "" {
		parts = append(parts, "sha256 "+c.SHA256)
	}
	if c.DestVersionID != "" {
		parts = append(parts, fmt.Sprintf("delivered to s3://%s/%s version %s", c.DestBucket, c.DestKey, c.DestVersionID))
	}
	if c.Encryption != "" || c.RetentionMode != "" {
		parts = append(parts, fmt.Sprintf("encryption %s, retention %s until %s", c.Encryption, c.RetentionMode, c.RetainUntil.UTC().Format(time.RFC3339)))
	}
	if c.QuarantineVersionID != "" {
		parts = append(parts, fmt.Sprintf("copy at s3://%s/%s version %s", c.QuarantineBucket, c.QuarantineKey, c.QuarantineVersionID))
	}
	return strings.Join(parts, "; ")
}

func asViolation(err error) (activities.Violation, bool) {
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != activities.ErrRuleViolation {
		return activities.Violation{}, false
	}
	var v activities.Violation
	if app.HasDetails() {
		if derr := app.Details(&v); derr != nil {
			v.Reasons = []string{app.Message()}
		}
	}
	if len(v.Reasons) == 0 {
		v.Reasons = []string{app.Message()}
	}
	return v, true
}

// failureMessage is the innermost message of an activity failure, which
// says what went wrong without Temporal's wrapping.
func failureMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	var to *temporal.TimeoutError
	if errors.As(err, &to) {
		return "timed out (" + to.TimeoutType().String() + ")"
	}
	return err.Error()
}
