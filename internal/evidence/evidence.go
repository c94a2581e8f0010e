// Package evidence holds the chain-of-custody facts of files — what the
// operator command `ferry report` writes for a person who reads them
// without Ferry (an auditor, a quality reviewer) — and renders them as a
// self-contained HTML document and as JSON. The facts come from the file's
// record (internal/filestore), its audit trail (internal/audit) and, while
// Temporal still holds the workflow, its input and status query
// (internal/ingest). Build is pure: the command gathers, Build decides
// what the facts say, Render writes them.
package evidence

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
)

// Report is one evidence document: one file (ferry report --file-id) or
// every file a partner uploaded in a time range (--partner --from --to).
type Report struct {
	Title       string    `json:"title"`
	GeneratedAt time.Time `json:"generatedAt"`
	// Scope says what the document covers, in words.
	Scope string `json:"scope"`
	// Partner, From and To are set for a range report.
	Partner string    `json:"partner,omitempty"`
	From    time.Time `json:"from,omitzero"`
	To      time.Time `json:"to,omitzero"`
	Files   []File    `json:"files"`
}

// File is the chain of custody of one object version.
type File struct {
	FileID      string            `json:"fileId"`
	Partner     string            `json:"partner"`
	Source      string            `json:"source"` // s3://bucket/key
	VersionID   string            `json:"versionId,omitempty"`
	ETag        string            `json:"etag,omitempty"`
	Size        int64             `json:"size"`
	ContentType string            `json:"contentType,omitempty"`
	Status      filestatus.Status `json:"status"`
	ReceivedAt  string            `json:"receivedAt"`
	UpdatedAt   string            `json:"updatedAt"`
	// Provenance is who wrote the file and from where, as its event said;
	// ProvenanceNote says why it is missing when it is.
	Provenance     *ingest.Provenance `json:"provenance,omitempty"`
	ProvenanceNote string             `json:"provenanceNote,omitempty"`
	// Timeline is the file's journey, one step per audit entry.
	Timeline []Step `json:"timeline"`
	// Checks are what inspection checked, each with its result.
	Checks []Check `json:"checks"`
	// Checksums are the file's checksums at each hop.
	Checksums []Checksum `json:"checksums"`
	// Quarantine is set when the file broke a rule.
	Quarantine *Quarantine `json:"quarantine,omitempty"`
	// Decisions are the approvals and rejections, refused ones included,
	// with their signature manifestation.
	Decisions []Decision `json:"decisions,omitempty"`
	// DecisionsFrom says where the decisions were read: the workflow's
	// status query, or the audit trail once Temporal no longer holds it.
	DecisionsFrom string    `json:"decisionsFrom,omitempty"`
	Delivery      *Delivery `json:"delivery,omitempty"`
	// Reasons are every reason recorded against the file.
	Reasons []string `json:"reasons,omitempty"`
	Chain   Chain    `json:"chain"`
	Anchor  Anchor   `json:"anchor"`
	// Workflow says whether Temporal still held the workflow (its input
	// and status query add the rules and signed decisions).
	Workflow string `json:"workflow"`
}

// Step is one entry of the journey.
type Step struct {
	Seq     int64  `json:"seq"`
	At      string `json:"at"`
	Actor   string `json:"actor"`
	What    string `json:"what"`
	Details string `json:"details,omitempty"`
}

// Check results.
const (
	Passed  = "passed"
	Failed  = "failed"
	Skipped = "not checked"
)

// Check is one check made on the file.
type Check struct {
	Name   string `json:"name"`
	Result string `json:"result"` // Passed, Failed or Skipped
	Detail string `json:"detail,omitempty"`
}

// Checksum is the file's checksum at one hop.
type Checksum struct {
	Hop       string `json:"hop"`
	Algorithm string `json:"algorithm"`
	Value     string `json:"value"`
	Note      string `json:"note,omitempty"`
}

// Quarantine is where and why a file was held.
type Quarantine struct {
	Location string   `json:"location"`
	Reasons  []string `json:"reasons"`
}

// Decision is an approve or reject with the manifestation of its
// signature: the signer's name, when it was signed and what it means.
type Decision struct {
	Kind     string    `json:"kind"`
	Approver string    `json:"approver"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at,omitzero"`
	Accepted bool      `json:"accepted"`
	Refusal  string    `json:"refusal,omitempty"`
	Signed   bool      `json:"signed"`
	SignedAt time.Time `json:"signedAt,omitzero"`
	Meaning  string    `json:"meaning,omitempty"`
	// Audit is the audit entry that records it, as written (set when the
	// decision is read from the trail).
	Audit string `json:"audit,omitempty"`
}

// Delivery is where the file was delivered and under which governance.
type Delivery struct {
	Location      string `json:"location"`
	VersionID     string `json:"versionId"`
	Encryption    string `json:"encryption,omitempty"`
	KMSKeyID      string `json:"kmsKeyId,omitempty"`
	RetentionMode string `json:"retentionMode,omitempty"`
	RetainUntil   string `json:"retainUntil,omitempty"`
}

// Chain is the audit trail and whether its hash chain holds.
type Chain struct {
	Intact bool `json:"intact"`
	// Result says it in words: "intact: 7 entries" or where it breaks.
	Result  string        `json:"result"`
	Entries []audit.Entry `json:"entries"`
}

// Anchor states.
const (
	AnchorVerified    = "verified"
	AnchorMismatch    = "mismatch"
	AnchorNotAnchored = "not anchored"
)

// Anchor is the audit chain checked against its WORM anchor.
type Anchor struct {
	State string `json:"state"` // AnchorVerified, AnchorMismatch or AnchorNotAnchored
	// Detail says against which anchor, or why not ("verified against
	// anchor …", "chain does not match its anchor: …", "no anchor
	// configured").
	Detail string `json:"detail"`
}

// NoAnchor is what a report says when no anchor check is configured.
var NoAnchor = Anchor{State: AnchorNotAnchored, Detail: "no anchor configured"}

// Sources are what Build reads for one file. Record and Trail are
// required; Input and State are nil once Temporal's retention has removed
// the workflow (or it could not be asked).
type Sources struct {
	Record *filestore.File
	Trail  []audit.Entry
	Input  *ingest.Input
	State  *ingest.FileState
	// WorkflowNote says why Input and State are missing.
	WorkflowNote string
	Anchor       Anchor
}

// Build derives one file's facts from its sources.
func Build(s Sources) File {
	r := s.Record
	f := File{
		FileID: r.FileID, Partner: r.Partner, Source: fmt.Sprintf("s3://%s/%s", r.Bucket, r.Key),
		VersionID: r.VersionID, ETag: r.ETag, Size: r.Size, ContentType: r.ContentType, Status: r.Status,
		ReceivedAt: r.ReceivedAt, UpdatedAt: r.UpdatedAt, Reasons: r.Reasons, Anchor: s.Anchor,
	}
	if f.Anchor.State == "" {
		f.Anchor = NoAnchor
	}
	f.Provenance = r.Provenance()
	if f.Provenance == nil && s.State != nil {
		f.Provenance = s.State.Provenance
	}
	if f.Provenance == nil {
		f.ProvenanceNote = "not recorded: the file was received before Ferry recorded provenance"
	}
	f.Workflow = "the workflow's input and status query were read"
	if s.State == nil {
		f.Workflow = "the workflow could not be read (" + s.WorkflowNote + "): rules and signed decisions come from the record and the audit trail"
	}
	for _, e := range s.Trail {
		f.Timeline = append(f.Timeline, Step{Seq: e.Seq, At: e.At, Actor: e.Actor, What: describe(e.Action), Details: e.Details})
	}
	f.Chain = chain(s.Trail)
	f.Checks = checks(r, s.Input)
	f.Checksums = checksums(r)
	if r.QuarantineVersionID != "" || r.Status == filestatus.Quarantined {
		f.Quarantine = &Quarantine{Location: fmt.Sprintf("s3://%s/%s version %s", r.QuarantineBucket, r.QuarantineKey, r.QuarantineVersionID), Reasons: r.Reasons}
	}
	f.Decisions, f.DecisionsFrom = decisions(s)
	if r.DestVersionID != "" {
		f.Delivery = &Delivery{
			Location: fmt.Sprintf("s3://%s/%s", r.DestBucket, r.DestKey), VersionID: r.DestVersionID,
			Encryption: r.Encryption, KMSKeyID: r.KMSKeyID, RetentionMode: r.RetentionMode, RetainUntil: r.RetainUntil,
		}
	}
	return f
}

// describe names an audit action for a reader.
func describe(action string) string {
	if s, ok := strings.CutPrefix(action, "status:"); ok {
		return s
	}
	switch action {
	case approval.ApproveSignal:
		return "approval"
	case approval.RejectSignal:
		return "rejection"
	}
	if k, ok := strings.CutPrefix(action, "refused:"); ok {
		return k + " refused"
	}
	return action
}

func chain(trail []audit.Entry) Chain {
	c := Chain{Entries: trail}
	if b := audit.Verify(trail); b != nil {
		c.Result = fmt.Sprintf("BROKEN at entry %d: %s", b.Seq, b.Problem)
		return c
	}
	c.Intact, c.Result = true, fmt.Sprintf("intact: %d entries, each chained to the one before by its SHA-256", len(trail))
	return c
}

// checks lists what inspection checked. The record keeps the reasons a
// file broke rules in, not which rule each came from, so the partner
// rules are reported together; the rules themselves come from the
// workflow's input while Temporal holds it.
func checks(r *filestore.File, in *ingest.Input) []Check {
	inspected := r.SHA256 != ""
	var cs []Check
	rulesDetail := "the partner's rules as configured at arrival"
	if in != nil {
		rulesDetail = rulesText(in)
	}
	switch {
	case len(r.Reasons) > 0 && (r.QuarantineVersionID != "" || r.Status == filestatus.Failed || r.Status == filestatus.Quarantined || r.Status == filestatus.Rejected):
		cs = append(cs, Check{"Partner rules", Failed, rulesDetail + " — broken: " + strings.Join(r.Reasons, "; ")})
	case inspected:
		cs = append(cs, Check{"Partner rules", Passed, rulesDetail})
	default:
		cs = append(cs, Check{"Partner rules", Skipped, "the file was not inspected"})
	}
	if inspected {
		cs = append(cs, Check{"SHA-256 of the bytes read", Passed, r.SHA256 + fmt.Sprintf(" (%d bytes, one read)", r.Size)})
	}
	switch {
	case r.S3ChecksumAlg != "":
		cs = append(cs, Check{"Checksum stored by S3", Passed, fmt.Sprintf("%s %s matches the bytes read", r.S3ChecksumAlg, r.S3Checksum)})
	case inspected:
		cs = append(cs, Check{"Checksum stored by S3", Skipped, "S3 stored no checksum for the upload"})
	}
	switch {
	case r.PartnerSHA256 != "" && sidecarMatches(r):
		cs = append(cs, Check{"Partner's checksum sidecar", Passed, "SHA-256 " + r.PartnerSHA256 + " matches the file"})
	case r.PartnerSHA256 != "":
		cs = append(cs, Check{"Partner's checksum sidecar", Failed, "the sidecar says SHA-256 " + r.PartnerSHA256 + ", the file read has " + r.SHA256})
	case in != nil && in.Rules.Sidecar.Required:
		cs = append(cs, Check{"Partner's checksum sidecar", Failed, "required, and no matching sidecar was recorded"})
	default:
		cs = append(cs, Check{"Partner's checksum sidecar", Skipped, "not required of this partner"})
	}
	switch r.ScanVerdict {
	case "":
		cs = append(cs, Check{"Malware scan", Skipped, "not required of this partner"})
	case ingest.ScanClean:
		cs = append(cs, Check{"Malware scan", Passed, fmt.Sprintf("clean by %s (%s, signatures %s)", r.Scanner, r.ScanEngine, r.ScanDatabase)})
	case ingest.ScanFound:
		cs = append(cs, Check{"Malware scan", Failed, fmt.Sprintf("found %s by %s (%s, signatures %s)", r.ScanFinding, r.Scanner, r.ScanEngine, r.ScanDatabase)})
	default:
		cs = append(cs, Check{"Malware scan", Skipped, strings.TrimSpace(r.ScanVerdict + " " + r.ScanFinding)})
	}
	if r.CiphertextSHA256 != "" {
		res := Passed
		if r.SignatureStatus != "valid" && r.SignatureStatus != "none" {
			res = Failed
		}
		cs = append(cs, Check{"PGP decryption and signature", res, strings.TrimSpace(fmt.Sprintf("decrypted with key %s; signature %s %s", r.DecryptedWith, r.SignatureStatus, r.SignerFingerprint))})
	}
	if r.DestVersionID != "" {
		cs = append(cs, Check{"Delivered copy verified", Passed, fmt.Sprintf("version %s has the size, SHA-256 and S3 checksum read at inspection, and the governance asked for", r.DestVersionID)})
	}
	return cs
}

// sidecarMatches: a partner may vouch for the file as uploaded or, for a
// decrypted upload, as it was before encryption.
func sidecarMatches(r *filestore.File) bool {
	return r.PartnerSHA256 == r.SHA256 || (r.CiphertextSHA256 != "" && r.PartnerSHA256 == r.CiphertextSHA256)
}

func rulesText(in *ingest.Input) string {
	r := in.Rules
	var parts []string
	if len(r.AllowedExtensions) > 0 {
		parts = append(parts, "extensions "+strings.Join(r.AllowedExtensions, ", "))
	}
	if r.MinSizeBytes > 0 {
		parts = append(parts, fmt.Sprintf("at least %d bytes", r.MinSizeBytes))
	}
	if r.MaxSizeBytes > 0 {
		parts = append(parts, fmt.Sprintf("at most %d bytes", r.MaxSizeBytes))
	}
	if r.NamePattern != "" {
		parts = append(parts, "name matching "+r.NamePattern)
	}
	if r.CheckContent {
		parts = append(parts, "content agreeing with the extension")
	}
	if len(parts) == 0 {
		return "no partner rules beyond a safe, non-empty name"
	}
	return "a safe, non-empty name; " + strings.Join(parts, "; ")
}

func checksums(r *filestore.File) []Checksum {
	var cs []Checksum
	if r.PartnerSHA256 != "" {
		note := "what the partner vouched for: matches"
		if !sidecarMatches(r) {
			note = "what the partner vouched for: DOES NOT MATCH the file"
		}
		cs = append(cs, Checksum{"Partner (sidecar)", "SHA-256", r.PartnerSHA256, note})
	}
	if r.CiphertextSHA256 != "" {
		cs = append(cs, Checksum{"Landing, as uploaded (ciphertext)", "SHA-256", r.CiphertextSHA256, fmt.Sprintf("%d bytes", r.CiphertextSize)})
		if r.CiphertextS3Checksum != "" {
			alg, v, _ := strings.Cut(r.CiphertextS3Checksum, " ")
			cs = append(cs, Checksum{"Landing, as uploaded (ciphertext)", alg, v, "stored by S3"})
		}
	}
	if r.S3ChecksumAlg != "" {
		cs = append(cs, Checksum{"Landing (S3)", r.S3ChecksumAlg, r.S3Checksum, "stored by S3, verified against the bytes read"})
	}
	if r.SHA256 != "" {
		cs = append(cs, Checksum{"Ferry's inspection", "SHA-256", r.SHA256, "computed in the one read"})
	}
	if r.DestVersionID != "" {
		cs = append(cs, Checksum{"Destination version " + r.DestVersionID, "SHA-256", r.SHA256, "recorded on the delivered version and verified after the copy"})
		if r.S3ChecksumAlg != "" {
			cs = append(cs, Checksum{"Destination version " + r.DestVersionID, r.S3ChecksumAlg, r.S3Checksum, "verified after the copy"})
		}
	}
	return cs
}

// decisions are the status query's when the workflow answered it (they
// carry the signature manifestation as fields), else the audit trail's
// decision entries, which state the manifestation in their details.
func decisions(s Sources) ([]Decision, string) {
	if s.State != nil {
		var ds []Decision
		for _, d := range s.State.Decisions {
			ds = append(ds, Decision{Kind: d.Kind, Approver: d.Approver, Reason: d.Reason, At: d.At, Accepted: d.Accepted,
				Refusal: d.Refusal, Signed: d.Signed, SignedAt: d.SignedAt, Meaning: d.Meaning})
		}
		return ds, "the workflow's status query"
	}
	var ds []Decision
	for _, e := range s.Trail {
		kind, refused := strings.CutPrefix(e.Action, "refused:")
		kind = strings.TrimPrefix(kind, "auto-")
		if kind != approval.ApproveSignal && kind != approval.RejectSignal {
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, e.At)
		d := Decision{Kind: kind, Approver: e.Actor, At: at, Accepted: !refused, Audit: e.Details}
		if refused {
			d.Refusal = e.Details
		} else {
			d.Reason = e.Details
			d.Signed = strings.Contains(e.Details, "[signed by ")
		}
		ds = append(ds, d)
	}
	return ds, "the audit trail"
}

// AnchorChecker checks a file's audit chain against its WORM anchor.
type AnchorChecker interface {
	CheckAnchor(ctx context.Context, fileID string, chain []audit.Entry) (Anchor, error)
}
