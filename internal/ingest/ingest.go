// Package ingest is the contract of the IngestFile workflow: its type
// name, input, result, status query answer and search attributes. The
// workflow (workflows/), whatever starts it (internal/intake and its
// adapters) and the operator commands share it, so none of them has to
// import another: entry points and the workflow both depend on this
// package, never on each other.
package ingest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/rules"
)

// Contract names (../shared/DESIGN.md): operators, dashboards and tests use them.
const (
	WorkflowName = "IngestFile"
	StatusQuery  = "status"
)

// Search attributes operators filter the Temporal UI with.
var (
	PartnerAttr    = temporal.NewSearchAttributeKeyKeyword("Partner")
	FileStatusAttr = temporal.NewSearchAttributeKeyKeyword("FileStatus")
	ObjectKeyAttr  = temporal.NewSearchAttributeKeyKeyword("ObjectKey")
	// SearchAttributes are all of them: each must be registered in the
	// namespace before the first workflow starts.
	SearchAttributes = []temporal.SearchAttributeKey{PartnerAttr, FileStatusAttr, ObjectKeyAttr}
)

// Input describes one uploaded object version and how to handle it.
// Intake fills it from the S3 event and the config at arrival, so the
// history records the rules and destination each file was handled by.
type Input struct {
	FileID    string // equals the workflow ID (internal/fileid)
	Partner   string
	Bucket    string
	Key       string
	VersionID string
	ETag      string
	// Size as the event reported it; inspection measures it again.
	Size      int64
	EventName string
	EventTime time.Time
	// Source says how the file reached Ferry: the transport and the event
	// shape ("http/s3", "sqs/sns/eventbridge", ...), "reconcile" or
	// "backfill".
	Source     string
	Rules      rules.Rules
	DestBucket string
	DestKey    string
	Governance governance.Policy
	// QuarantineBucket and QuarantineKey say where a file that breaks a
	// rule is copied; empty means such a file fails, with the reasons recorded.
	QuarantineBucket string
	QuarantineKey    string
	// Copy tunes the server-side copies (multipart threshold, part size,
	// concurrency).
	Copy CopyOptions
	// SmallFileMaxBytes: a file up to this size takes the fast path,
	// inspected and delivered by local activities (0: never). Histories
	// written before it existed lack it, and take the regular path.
	SmallFileMaxBytes int64
	// Approval says who may release or reject the file once quarantined;
	// RejectedKey is where a rejected file's copy goes in the quarantine
	// bucket. Uploader is who wrote the object, who may not decide on it.
	Approval    approval.Policy
	RejectedKey string
	Uploader    string
	// Decrypt is the partner's PGP policy; nil when Ferry holds no key
	// for the partner, so an encrypted upload breaks its rules.
	Decrypt *Decryption
	// Batch is set when the file belongs to a batch (its partner sends
	// batches and the file is in a folder below inbound/): it is then
	// released or quarantined with its batch. Nil: the file on its own.
	Batch *batch.Membership
	// Provenance is who wrote the object and from where, as the event
	// said. Histories written before it existed lack it (nil), and
	// replay without it.
	Provenance *Provenance
}

// Provenance is who wrote a file and from where, as far as the event that
// announced it says: nothing here is guessed. A file found by a listing
// (reconciler, backfill) has no event; Note then says so and the other
// fields stay empty.
type Provenance struct {
	// Principal is who wrote the object: the Transfer Family user's or
	// IAM principal (S3 userIdentity.principalId, EventBridge requester),
	// or the MinIO user (its access key, the partner's login).
	Principal string `json:",omitempty"`
	// SourceIP is the address the write came from.
	SourceIP string `json:",omitempty"`
	// RequestID is S3's ID of the writing request.
	RequestID string `json:",omitempty"`
	// EventTime is when S3 says the write happened.
	EventTime time.Time `json:",omitzero"`
	// Note says where provenance is missing and why ("started by the
	// reconciler, no event").
	Note string `json:",omitempty"`
}

// String is provenance in one line, for audit entries and the CLI.
func (p Provenance) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	add("principal", p.Principal)
	add("source ip", p.SourceIP)
	add("request id", p.RequestID)
	if !p.EventTime.IsZero() {
		add("event time", p.EventTime.UTC().Format(time.RFC3339Nano))
	}
	if p.Note != "" {
		parts = append(parts, p.Note)
	}
	return strings.Join(parts, ", ")
}

// Decryption is a partner's PGP policy as the workflow sees it. The keys
// themselves stay with the worker (its config names their files): a
// workflow history never holds a secret.
type Decryption struct {
	// Required makes an upload that is not encrypted break the rules.
	Required bool
	// RequireSignature demands a valid signature by one of the partner's
	// signing keys.
	RequireSignature bool
	// MaxPlaintextBytes and MaxExpansion bound the plaintext (absolute,
	// and as a multiple of the ciphertext read so far), so a compressed
	// bomb is stopped long before it fills a bucket.
	MaxPlaintextBytes int64
	MaxExpansion      int64
	// PlaintextBucket and PlaintextKey are where the plaintext is
	// written: a Ferry-only place, never the landing bucket (it would be
	// ingested again) nor the destination (it is not yet inspected).
	PlaintextBucket string
	PlaintextKey    string
}

// Scan verdicts.
const (
	ScanClean      = "clean"
	ScanFound      = "found"
	ScanNotScanned = "not_scanned"
)

// ScanFacts is what the malware scan of a file established, with the
// scanner that said so: its engine and signature database version.
type ScanFacts struct {
	Scanner  string // "clamd tcp://..." — which scanner answered
	Engine   string // "ClamAV 1.4.6"
	Database string // signature database version and date, as the scanner reports it
	Verdict  string // ScanClean, ScanFound or ScanNotScanned
	// Signature is the name of what was found (ScanFound).
	Signature string
	// Note says why a file was not scanned.
	Note string
}

// DecryptionFacts is what decrypting a PGP upload established: the
// ciphertext as uploaded, where its plaintext was written, and who signed it.
type DecryptionFacts struct {
	CiphertextSize   int64
	CiphertextSHA256 string
	// CiphertextS3ChecksumAlgorithm and CiphertextS3Checksum are what S3
	// stored for the upload, verified against the bytes read.
	CiphertextS3ChecksumAlgorithm string
	CiphertextS3Checksum          string
	PlaintextBucket               string
	PlaintextKey                  string
	PlaintextVersionID            string
	// RecipientFingerprint is Ferry's key the file was decrypted with.
	RecipientFingerprint string
	// SignatureStatus is "valid", "none" or "unknown-signer";
	// SignerFingerprint names the valid signer's key.
	SignatureStatus   string
	SignerFingerprint string
	SignedAt          time.Time
}

// BatchFacts is what a member of a batch knows of it.
type BatchFacts struct {
	WorkflowID string
	Folder     string
	// Outcome is the batch's verdict for the file (batch.Release,
	// batch.Quarantine, batch.Superseded), empty while it waits.
	Outcome string
}

// Validate reports every problem with the input, for the workflow ID it
// is started under.
func (in *Input) Validate(workflowID string) error {
	var errs []error
	// A slice, not a map: workflow code must not depend on map order.
	for _, f := range []struct{ name, v string }{
		{"FileID", in.FileID}, {"Partner", in.Partner}, {"Bucket", in.Bucket},
		{"Key", in.Key}, {"DestBucket", in.DestBucket}, {"DestKey", in.DestKey},
	} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("%s is empty", f.name))
		}
	}
	if in.VersionID == "" && in.ETag == "" {
		errs = append(errs, errors.New("neither VersionID nor ETag is set, so the object version is unknown"))
	}
	if in.FileID != "" && in.FileID != workflowID {
		errs = append(errs, fmt.Errorf("FileID %q differs from the workflow ID %q: start IngestFile with the ID from fileid.WorkflowID", in.FileID, workflowID))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid IngestFile input: %w", err)
	}
	return nil
}

// CopyOptions tune server-side copies. Zero values take the defaults.
type CopyOptions struct {
	// MultipartThresholdBytes: objects larger than this are copied in parts
	// (UploadPartCopy). S3's CopyObject cannot copy more than 5 GiB.
	MultipartThresholdBytes int64
	// PartSizeBytes is the size of each part (S3: 5 MiB to 5 GiB; raised
	// when needed to stay within 10,000 parts).
	PartSizeBytes int64
	// Concurrency bounds the parts copied at once.
	Concurrency int
}

// Result is how the file ended.
type Result struct {
	Status        filestatus.Status
	Reasons       []string
	SHA256        string
	Size          int64
	DestBucket    string
	DestKey       string
	DestVersionID string
	// QuarantineVersionID is set when the file was quarantined.
	QuarantineVersionID string
	Decisions           []approval.Decision
	// Duplicate is true when an earlier execution had already finished this
	// object version; nothing was done again.
	Duplicate bool
}

// StageChange is one entry of the status query's history.
type StageChange struct {
	Status filestatus.Status
	At     time.Time
}

// FileState answers the status query.
type FileState struct {
	FileID              string
	Partner             string
	Bucket              string
	Key                 string
	VersionID           string
	Stage               filestatus.Status
	Reasons             []string
	Size                int64
	SHA256              string
	ContentType         string
	PartnerSHA256       string
	S3ChecksumAlgorithm string
	S3Checksum          string
	DestBucket          string
	DestKey             string
	DestVersionID       string
	Encryption          string
	KMSKeyID            string
	RetentionMode       string
	RetainUntil         time.Time
	QuarantineBucket    string
	QuarantineKey       string
	QuarantineVersionID string
	// WaitingFor says what the file waits for, when it waits.
	WaitingFor string
	// Decisions lists every approve and reject received, refused ones
	// included with the reason; RequiredApprovals is how many a release
	// needs and Approvals how many distinct approvers have approved.
	Decisions         []approval.Decision
	RequiredApprovals int
	Approvals         int
	// DeliveryPartsResumed counts the parts of a multipart copy that a
	// crashed attempt had finished and a later attempt kept.
	DeliveryPartsResumed int
	History              []StageChange
	// Scan is the malware scan's verdict (empty when the partner's rules
	// do not scan).
	Scan ScanFacts
	// Batch is the batch's workflow ID and folder for a member of a batch.
	Batch *BatchFacts
	// Decryption is set for a PGP upload: Size, SHA256 and the S3
	// checksum above are then the plaintext's, delivered; the ciphertext's
	// are here.
	Decryption *DecryptionFacts
	// Provenance is who wrote the file and from where (nil for files
	// started before Ferry recorded it).
	Provenance *Provenance
}
