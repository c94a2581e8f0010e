package workflows

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/notify"
)

// The views of the file's facts (w.state): what the workflow returns,
// records, announces and shows. Each is derived here and nowhere else.

// result is the workflow's result.
func (w *pipeline) result() *ingest.Result {
	s := w.state
	return &ingest.Result{Status: s.Stage, Reasons: s.Reasons, SHA256: s.SHA256, Size: s.Size,
		DestBucket: s.DestBucket, DestKey: s.DestKey, DestVersionID: s.DestVersionID, QuarantineVersionID: s.QuarantineVersionID,
		Decisions: s.Decisions, Duplicate: w.duplicate}
}

// change is the record of the file in status st: everything known so far.
func (w *pipeline) change(st filestatus.Status) filestore.Change {
	s := w.state
	c := filestore.Change{
		Status: st, Reasons: slices.Clone(s.Reasons), SHA256: s.SHA256, Size: s.Size, ContentType: s.ContentType,
		PartnerSHA256: s.PartnerSHA256, S3Checksum: s.S3Checksum, S3ChecksumAlg: s.S3ChecksumAlgorithm,
		DestBucket: s.DestBucket, DestKey: s.DestKey, DestVersionID: s.DestVersionID,
		Encryption: s.Encryption, KMSKeyID: s.KMSKeyID, RetentionMode: s.RetentionMode, RetainUntil: s.RetainUntil,
		QuarantineBucket: s.QuarantineBucket, QuarantineKey: s.QuarantineKey, QuarantineVersionID: s.QuarantineVersionID,
		ScanVerdict: s.Scan.Verdict, ScanFinding: s.Scan.Signature + s.Scan.Note, Scanner: s.Scan.Scanner, ScanEngine: s.Scan.Engine, ScanDatabase: s.Scan.Database,
	}
	if d := s.Decryption; d != nil {
		c.CiphertextSHA256, c.CiphertextSize, c.DecryptedWith = d.CiphertextSHA256, d.CiphertextSize, d.RecipientFingerprint
		c.SignatureStatus, c.SignerFingerprint = d.SignatureStatus, d.SignerFingerprint
		if d.CiphertextS3Checksum != "" {
			c.CiphertextS3Checksum = d.CiphertextS3ChecksumAlgorithm + " " + d.CiphertextS3Checksum
		}
	}
	return c
}

// outcomeAt is when the outcome typ announces happened: the time of its
// status's audit entry as the trail holds it. A run that repeats the step
// after its worker died (or Temporal lost the workflow task) finds the
// first run's entry, so the notification it sends again keeps its `at`,
// as receivers that refuse old `at`s or compare retries expect. For what
// has no entry of its own (reminders) it is the workflow's time now.
func (w *pipeline) outcomeAt(ctx workflow.Context, typ string) time.Time {
	if h := w.auditHead; h != nil && "file."+strings.TrimPrefix(h.Action, "status:") == typ {
		if at, err := time.Parse(time.RFC3339Nano, h.At); err == nil {
			return at
		}
	}
	return workflow.Now(ctx)
}

// event is the notification of type typ.
func (w *pipeline) event(ctx workflow.Context, typ string) notify.Event {
	s := w.state
	ev := notify.Event{
		Type: typ, FileID: s.FileID, Partner: s.Partner, Bucket: s.Bucket, Key: s.Key, VersionID: s.VersionID,
		Size: s.Size, SHA256: s.SHA256, Status: string(s.Stage), Reasons: s.Reasons,
		DestBucket: s.DestBucket, DestKey: s.DestKey, DestVer: s.DestVersionID, At: w.outcomeAt(ctx, typ),
	}
	if typ == "file.reminder" {
		ev.Sequence = w.reminders
	}
	return ev
}

// changeDetails says in one line what a status change added to the
// record, for its audit entry.
func changeDetails(prev, c filestore.Change) string {
	var parts []string
	for _, r := range c.Reasons {
		if !slices.Contains(prev.Reasons, r) {
			parts = append(parts, r)
		}
	}
	if c.SHA256 != prev.SHA256 {
		parts = append(parts, "sha256 "+c.SHA256)
	}
	if c.DestVersionID != prev.DestVersionID {
		parts = append(parts, fmt.Sprintf("delivered to s3://%s/%s version %s", c.DestBucket, c.DestKey, c.DestVersionID))
	}
	if (c.Encryption != prev.Encryption || c.RetentionMode != prev.RetentionMode) && (c.Encryption != "" || c.RetentionMode != "") {
		parts = append(parts, fmt.Sprintf("encryption %s, retention %s until %s", c.Encryption, c.RetentionMode, c.RetainUntil.UTC().Format(time.RFC3339)))
	}
	if c.QuarantineVersionID != prev.QuarantineVersionID {
		parts = append(parts, fmt.Sprintf("copy at s3://%s/%s version %s", c.QuarantineBucket, c.QuarantineKey, c.QuarantineVersionID))
	}
	if c.CiphertextSHA256 != prev.CiphertextSHA256 {
		parts = append(parts, fmt.Sprintf("decrypted with key %s from ciphertext sha256 %s (%d bytes); signature %s %s",
			c.DecryptedWith, c.CiphertextSHA256, c.CiphertextSize, c.SignatureStatus, c.SignerFingerprint))
	}
	if c.ScanVerdict != prev.ScanVerdict {
		parts = append(parts, strings.TrimSpace(fmt.Sprintf("scan %s %s by %s (%s, signatures %s)", c.ScanVerdict, c.ScanFinding, c.Scanner, c.ScanEngine, c.ScanDatabase)))
	}
	return strings.Join(parts, "; ")
}

// details is the "current details" the Temporal UI shows for the workflow.
func (w *pipeline) details() string {
	s := w.state
	d := fmt.Sprintf("**%s** · partner `%s` · `s3://%s/%s`", s.Stage, s.Partner, s.Bucket, s.Key)
	if s.SHA256 != "" {
		d += fmt.Sprintf("\n\nSHA-256 `%s` (%d bytes)", s.SHA256, s.Size)
	}
	if dec := s.Decryption; dec != nil {
		d2 := fmt.Sprintf("\n\nDecrypted from `%s` (ciphertext SHA-256 `%s`, %d bytes) with key `%s`; signature %s", s.Key, dec.CiphertextSHA256, dec.CiphertextSize, dec.RecipientFingerprint, dec.SignatureStatus)
		if dec.SignerFingerprint != "" {
			d2 += " by `" + dec.SignerFingerprint + "`"
		}
		d += d2
	}
	if v := s.Scan; v.Verdict != "" {
		d += fmt.Sprintf("\n\nMalware scan: **%s** %s%s (%s, signatures %s)", v.Verdict, v.Signature, v.Note, v.Engine, v.Database)
	}
	if s.WaitingFor != "" {
		d += "\n\nWaiting for " + s.WaitingFor
	}
	if s.DestVersionID != "" {
		d += fmt.Sprintf("\n\nDelivered to `s3://%s/%s` version `%s`", s.DestBucket, s.DestKey, s.DestVersionID)
	}
	if s.QuarantineVersionID != "" {
		d += fmt.Sprintf("\n\nQuarantined at `s3://%s/%s` version `%s` because:", s.QuarantineBucket, s.QuarantineKey, s.QuarantineVersionID)
	}
	for _, r := range s.Reasons {
		d += "\n\n- " + r
	}
	if b := s.Batch; b != nil {
		d += fmt.Sprintf("\n\nMember of batch `%s` (workflow `%s`)", b.Folder, b.WorkflowID)
	}
	if s.Stage == filestatus.Quarantined && w.batchOwned {
		d += fmt.Sprintf("\n\n**Waiting for a decision on the whole batch**: `ferry approve --workflow-id %s ...`", s.Batch.WorkflowID)
	} else if s.Stage == filestatus.Quarantined && w.in.Approval.Enabled() {
		d += fmt.Sprintf("\n\n**Waiting for a decision** (%d of %d approvals; approvers: %s). Approve or reject with:\n\n"+
			"`temporal workflow signal --workflow-id %s --name approve --input '{\"approver\":\"<you>\",\"reason\":\"<why>\"}'`\n\n"+
			"`temporal workflow signal --workflow-id %s --name reject --input '{\"approver\":\"<you>\",\"reason\":\"<why>\"}'`",
			s.Approvals, s.RequiredApprovals, strings.Join(w.policy().Approvers, ", "), w.id, w.id)
	}
	for _, dec := range s.Decisions {
		if !dec.Accepted {
			d += fmt.Sprintf("\n\n- refused %s from %s: %s", dec.Kind, dec.Approver, dec.Refusal)
		}
	}
	return d
}
