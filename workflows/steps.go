package workflows

import (
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/rules"
)

// failure is a step that ended the file as failed: the reasons go into the
// record and the notification. cause is the infrastructure error behind
// it, or nil for an outcome (a rule violation with nowhere to quarantine).
type failure struct {
	reasons []string
	cause   error
}

func (f *failure) Error() string { return fmt.Sprint(f.reasons) }

// failed wraps an activity's error as a failure of the step named by what.
func failed(what string, err error) error {
	return &failure{reasons: []string{what + ": " + failureMessage(err)}, cause: err}
}

// receive records the file as received, or finds that an earlier
// execution already handled it (done).
func (w *pipeline) receive(ctx workflow.Context) (done bool, err error) {
	prov := w.provenance(ctx)
	w.state.Provenance = prov
	w.enter(ctx, filestatus.Received)
	details := fmt.Sprintf("s3://%s/%s version %s, %s via %s", w.in.Bucket, w.in.Key, w.in.VersionID, w.in.EventName, w.in.Source)
	if prov != nil {
		details += "; provenance: " + prov.String()
	}
	first := w.nextAudit(ctx, "ferry", "status:received", details)
	var rec activities.RecordReceivedResult
	if err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.RecordReceivedName, &activities.RecordReceivedInput{
		File: w.ref(), Size: w.in.Size, RunID: workflow.GetInfo(ctx).WorkflowExecution.RunID, Audit: first, Provenance: prov,
	}).Get(ctx, &rec); err != nil {
		return false, fmt.Errorf("recording %s as received: %w", w.in.FileID, err)
	}
	w.auditHead = first
	if rec.AuditHead != nil {
		// A re-run continues the file's existing trail.
		w.auditHead = rec.AuditHead
	}
	if rec.AlreadyKnown && rec.Status.Terminal() && !rec.SameRun {
		// Only possible when this workflow ID was reused after an earlier
		// execution finished (history retention passed, or a manual
		// re-run): the record, not Temporal, then prevents a second delivery.
		w.state.SHA256 = rec.SHA256
		w.state.DestBucket, w.state.DestKey, w.state.DestVersionID = rec.DestBucket, rec.DestKey, rec.DestVersionID
		w.duplicate = true
		w.log.Info("file was already handled; not ingesting again", "status", rec.Status)
		if w.patched {
			w.enter(ctx, rec.Status) // operators filter on the outcome, not on received
		} else {
			w.state.Stage = rec.Status
		}
		return true, nil
	}
	return false, nil
}

// inspect reads the file once: partner rules, SHA-256, the stored checksum
// and the content check. It returns the rules the file breaks; a file that
// breaks one is read in full all the same, so its quarantine copy is
// verified and an approval binds its exact bytes.
func (w *pipeline) inspect(ctx workflow.Context) (violations []rules.Reason, err error) {
	in := &activities.InspectInput{File: w.ref(), Rules: w.in.Rules, Decrypt: w.in.Decrypt}
	local := *in
	local.MaxBytes = w.in.SmallFileMaxBytes
	var insp activities.InspectResult
	recordErr, err := w.runStep(ctx, inspectStep, &local, in, &insp)
	if recordErr != nil {
		return nil, recordErr
	}
	v, isViolation := asViolation(err)
	switch {
	case isViolation:
		insp, violations = v.Result, reasonsOf(v)
	case err != nil:
		return nil, failed("inspection failed", err)
	}
	w.insp = insp
	w.state.SHA256, w.state.ContentType = insp.SHA256, insp.ContentType
	w.state.S3ChecksumAlgorithm, w.state.S3Checksum = insp.S3ChecksumAlgorithm, insp.S3Checksum
	if insp.Size > 0 {
		w.state.Size = insp.Size
	}
	w.state.Scan = insp.Scan
	if d := insp.Decryption; d != nil {
		// From here on the file is its plaintext.
		w.state.Decryption = d
		w.content = activities.FileRef{FileID: w.in.FileID, Partner: w.in.Partner, Bucket: d.PlaintextBucket, Key: d.PlaintextKey, VersionID: d.PlaintextVersionID}
	}
	return violations, nil
}

// checkSidecar waits (durably: the activity's retry policy is the wait) for
// the partner's <file>.sha256 and compares it with the SHA-256 inspection
// computed. It returns why the file fails the check.
// sidecarOutageVersion patches checkSidecar's last look after an outage:
// executions from before it took a wait that ran out for a missing sidecar.
const sidecarOutageVersion = "sidecar-last-look-after-outage"

// sidecarAnswered reports whether the sidecar's wait ended with S3's
// answer (no sidecar, or one that is not valid), also as the cause of a
// timeout, rather than while S3 could not be asked at all.
func sidecarAnswered(err error) bool {
	var app *temporal.ApplicationError
	return errors.As(err, &app) && (app.Type() == activities.ErrSidecarMissing || app.Type() == activities.ErrSidecarInvalid)
}

func (w *pipeline) checkSidecar(ctx workflow.Context) ([]rules.Reason, error) {
	if !w.in.Rules.Sidecar.Required {
		return nil, nil
	}
	sidecar := w.in.Key + rules.SidecarSuffix
	timeout := w.in.Rules.Sidecar.Timeout
	w.waitFor(ctx, fmt.Sprintf("checksum sidecar `%s` (up to %s)", sidecar, timeout))
	defer w.waitFor(ctx, "")

	var sc activities.FetchSidecarResult
	fetch := &activities.FetchSidecarInput{File: w.ref()}
	err := workflow.ExecuteActivity(sidecarCtx(ctx, timeout), activities.FetchSidecarName, fetch).Get(ctx, &sc)
	if err != nil && !sidecarAnswered(err) && workflow.GetVersion(ctx, sidecarOutageVersion, workflow.DefaultVersion, 1) >= 1 {
		// The wait ran out while S3 could not be asked (an outage, not a
		// missing sidecar): one more look, waiting out the outage as
		// inspection does, decides.
		err = workflow.ExecuteActivity(sidecarLastLookCtx(ctx), activities.FetchSidecarName, fetch).Get(ctx, &sc)
	}
	var app *temporal.ApplicationError
	var to *temporal.TimeoutError
	switch {
	case errors.As(err, &to) || (errors.As(err, &app) && app.Type() == activities.ErrSidecarMissing):
		return []rules.Reason{{Class: rules.ClassSidecarMissing,
			Message: fmt.Sprintf("no checksum sidecar %s arrived within %s, and this partner's policy requires one: upload it (sha256sum format)", sidecar, timeout)}}, nil
	case errors.As(err, &app) && app.Type() == activities.ErrSidecarInvalid:
		return []rules.Reason{{Class: rules.ClassSidecarInvalid, Message: app.Message()}}, nil
	case err != nil:
		return nil, failed("checksum sidecar check failed", err)
	}
	w.state.PartnerSHA256 = sc.SHA256
	if d := w.state.Decryption; d != nil && sc.SHA256 != w.state.SHA256 {
		// A partner may vouch for the file as uploaded or as it was
		// before encryption: either binds the bytes.
		if sc.SHA256 != d.CiphertextSHA256 {
			return []rules.Reason{{Class: rules.ClassSidecarMismatch,
				Message: fmt.Sprintf("checksum sidecar %s says SHA-256 %s, but the upload has %s and its plaintext %s: the file changed in transit or the sidecar is for another version",
					sidecar, sc.SHA256, d.CiphertextSHA256, w.state.SHA256)}}, nil
		}
		return nil, nil
	}
	if sc.SHA256 != w.state.SHA256 {
		return []rules.Reason{{Class: rules.ClassSidecarMismatch,
			Message: fmt.Sprintf("checksum sidecar %s says SHA-256 %s, but the file read has %s: the file changed in transit or the sidecar is for another version",
				sidecar, sc.SHA256, w.state.SHA256)}}, nil
	}
	return nil, nil
}

// quarantine copies a file that broke a rule to the quarantine bucket,
// records why and announces it.
func (w *pipeline) quarantine(ctx workflow.Context, violations []rules.Reason) error {
	reasons := rules.Messages(violations)
	var q activities.QuarantineResult
	if err := workflow.ExecuteActivity(deliverCtx(ctx), activities.QuarantineName, &activities.QuarantineInput{
		File: w.content, Bucket: w.in.QuarantineBucket, Key: w.target(w.in.QuarantineKey), SHA256: w.state.SHA256,
		Size: w.state.Size, Copy: w.in.Copy, MaxAttempts: deliverMaxAttempts,
	}).Get(ctx, &q); err != nil {
		w.state.Reasons = append(w.state.Reasons, reasons...)
		return failed("quarantine failed", err)
	}
	w.state.QuarantineBucket, w.state.QuarantineKey, w.state.QuarantineVersionID = q.Bucket, q.Key, q.VersionID
	if err := w.move(ctx, filestatus.Quarantined, reasons...); err != nil {
		return err
	}
	w.countQuarantine(ctx, violations[0].Class)
	w.notify(ctx, "file.quarantined")
	return nil
}

// deliver copies the inspected file to its destination, verifies and
// records the delivery, handles the source and notifies.
func (w *pipeline) deliver(ctx workflow.Context) error {
	in := &activities.DeliverInput{
		File: w.content, Inspection: w.insp, DestBucket: w.in.DestBucket, DestKey: w.target(w.in.DestKey), Governance: w.in.Governance,
		Copy: w.in.Copy, MaxAttempts: deliverMaxAttempts,
	}
	var del activities.DeliverResult
	recordErr, err := w.runStep(ctx, deliverStep, in, in, &del)
	if recordErr != nil {
		return recordErr
	}
	if err != nil {
		return failed("delivery failed", err)
	}
	s := &w.state
	s.DestBucket, s.DestKey, s.DestVersionID = del.DestBucket, del.DestKey, del.DestVersionID
	s.Encryption, s.KMSKeyID, s.RetentionMode, s.RetainUntil = del.Encryption, del.KMSKeyID, del.RetentionMode, del.RetainUntil
	s.DeliveryPartsResumed = del.PartsResumed
	if err := w.move(ctx, filestatus.Delivered); err != nil {
		return err
	}
	w.countDelivery(ctx)
	w.handleSource(ctx)
	w.notify(ctx, "file.delivered")
	return nil
}

// handleSource deletes or tags the landing version once its delivery is
// verified and recorded, per the partner's policy. A failure here does not
// undo the delivery: it is logged and kept in the reasons.
func (w *pipeline) handleSource(ctx workflow.Context) {
	action := w.in.Governance.SourceAfterDelivery
	if action == "" || action == governance.Keep {
		return
	}
	err := workflow.ExecuteLocalActivity(recordCtx(ctx), activities.HandleSourceName, &activities.HandleSourceInput{
		File: w.ref(), Action: action, DestVersionID: w.state.DestVersionID,
	}).Get(ctx, nil)
	if err != nil {
		w.log.Error("handling the source after delivery failed", "action", action, "error", err)
		w.state.Reasons = append(w.state.Reasons, "source "+action+" after delivery failed: "+failureMessage(err))
	}
}

// discardPlaintext deletes the plaintext of a decrypted upload once the
// file's journey is over: it was delivered, or copied to quarantine and
// decided on. A failure is logged: the plaintext/ prefix's lifecycle
// rule removes what is left.
func (w *pipeline) discardPlaintext(ctx workflow.Context) {
	d := w.state.Decryption
	if d == nil {
		return
	}
	err := workflow.ExecuteLocalActivity(notifyCtx(ctx), activities.DiscardPlaintextName, &activities.DiscardPlaintextInput{
		File: w.content,
	}).Get(ctx, nil)
	if err != nil {
		w.log.Error("deleting the decrypted plaintext failed", "bucket", d.PlaintextBucket, "key", d.PlaintextKey, "error", err)
	}
}

// fail records the file as failed with the failure's reasons and
// announces it. An infrastructure cause also fails the workflow, so it
// stands out in the UI; an outcome completes it. An error that is not a
// failure means the record itself could not be written: it is returned
// as it is, since nothing more can be recorded.
func (w *pipeline) fail(ctx workflow.Context, err error) (*ingest.Result, error) {
	var f *failure
	if !errors.As(err, &f) {
		return nil, err
	}
	if err := w.move(ctx, filestatus.Failed, f.reasons...); err != nil {
		return nil, err
	}
	w.notify(ctx, "file.failed")
	if f.cause != nil {
		return nil, fmt.Errorf("file %s failed: %w", w.in.FileID, f.cause)
	}
	return w.result(), nil
}

// step is inspection or delivery: the activity, the status recorded
// before it on the regular path, and its options.
type step struct {
	activity string
	stage    filestatus.Status
	regular  func(workflow.Context) workflow.Context
	retry    func() *temporal.RetryPolicy
}

var (
	inspectStep = step{activities.InspectName, filestatus.Inspecting, inspectCtx, inspectRetry}
	deliverStep = step{activities.DeliverName, filestatus.Delivering, deliverCtx, deliverRetry}
)

// runStep runs st into out: on the fast path as a local activity with
// local (options.go, smallCtx), and, where that hands the step back or
// the file is not on the fast path, as the regular activity with in,
// after recording the step's stage. recordErr is a failure to record
// the stage; err is the activity's.
func (w *pipeline) runStep(ctx workflow.Context, st step, local, in, out any) (recordErr, err error) {
	if w.small {
		err = workflow.ExecuteLocalActivity(smallCtx(ctx, st.retry()), st.activity, local).Get(ctx, out)
		if !handBack(err, st.retry()) {
			return nil, err
		}
		w.log.Info("the fast path hands the step to the regular activity", "activity", st.activity, "reason", failureMessage(err))
		w.small = false
	}
	if err := w.move(ctx, st.stage); err != nil {
		return err, nil
	}
	return nil, workflow.ExecuteActivity(st.regular(ctx), st.activity, in).Get(ctx, out)
}

// handBack reports whether a fast-path local activity's error hands its
// step to the regular activity: anything but an outcome of the file (an
// error its retry policy never retries, as on the regular path) — the
// file is not for the fast path, or what the step needs is down or slow.
func handBack(err error, retry *temporal.RetryPolicy) bool {
	var app *temporal.ApplicationError
	if err == nil || errors.As(err, &app) && slices.Contains(retry.NonRetryableErrorTypes, app.Type()) {
		return false
	}
	return true
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

// reasonsOf pairs a violation's reasons with their classes. A reason
// without one (a history written before classes existed, details that
// could not be read) gets "", which metrics count as "other".
func reasonsOf(v activities.Violation) []rules.Reason {
	rs := make([]rules.Reason, len(v.Reasons))
	for i, m := range v.Reasons {
		rs[i].Message = m
		if i < len(v.Classes) {
			rs[i].Class = v.Classes[i]
		}
	}
	return rs
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
