// Package batch is the contract of the IngestBatch workflow: a partner's
// files that arrive together with a manifest and are released together.
//
// A batch is a folder below a partner's inbound/: the manifest and its
// files share the folder <partner>/inbound/<batch>/. Every file in that
// folder claims to be part of the batch — one the manifest does not list
// is an unlisted claimant and holds the batch back. Each file is still
// one IngestFile workflow with its own ID; after its own inspection it
// signals the batch's workflow (signal-with-start, through an activity),
// and the batch answers every member with one Verdict: release, quarantine
// (with what is missing or mismatched) or superseded (a re-upload of the
// same name replaced it).
//
// The package is pure: the workflow (workflows/batch.go), intake (which
// says at arrival whether a file belongs to a batch) and the operator
// commands share it.
package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"time"

	"github.com/ferrydata/ferry/internal/approval"
)

// Contract names: operators and tests use them.
const (
	WorkflowName = "IngestBatch"
	// StatusQuery answers with State. It is the file workflow's query
	// name too, so `ferry approve` reads a batch as it reads a file.
	StatusQuery = "status"
	// MemberSignal carries a Member from a file's workflow to its batch.
	MemberSignal = "batch-member"
	// VerdictSignal carries the batch's Verdict to a member's workflow.
	VerdictSignal = "batch-verdict"
	// DecisionSignal carries each judged decision on a quarantined batch
	// to its members, whose audit trails record it.
	DecisionSignal = "batch-decision"
)

// Outcomes of a Verdict.
const (
	Release    = "release"
	Quarantine = "quarantine"
	Superseded = "superseded"
)

// Batch statuses (State.Status).
const (
	Collecting  = "collecting"
	Released    = "released"
	Quarantined = "quarantined"
	Approved    = "approved"
	Rejected    = "rejected"
)

// Settings are a partner's batch configuration as the workflows see it.
type Settings struct {
	// ManifestPatterns are path.Match patterns of manifest names
	// ("*.manifest.json", "*.sha256").
	ManifestPatterns []string
	// Timeout is how long a batch may take from its first arrival.
	Timeout time.Duration
}

// Membership says which batch a file belongs to; intake fills it in
// ingest.Input when the partner sends batches and the file is in a folder.
type Membership struct {
	WorkflowID string
	// Folder is the batch: <partner>/inbound/<batch>/.
	Folder string
	// Name is the file's name in the folder, as a manifest lists it.
	Name string
	// Manifest is set when the name matches a manifest pattern.
	Manifest bool
	Settings Settings
}

// Folder is the batch a landing key belongs to — its parent folder when
// that lies below <partner>/inbound/ — and its name there. ok is false for
// a file directly in inbound/, which is in no batch.
func Folder(partner, key string) (folder, name string, ok bool) {
	inbound := partner + "/inbound/"
	dir, name := path.Split(key)
	if !strings.HasPrefix(dir, inbound) || len(dir) <= len(inbound) || name == "" {
		return "", "", false
	}
	return dir, name, true
}

// IsManifest reports whether name matches one of the patterns.
func (s Settings) IsManifest(name string) bool {
	for _, p := range s.ManifestPatterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// WorkflowID is the batch workflow's ID for a folder of a bucket:
//
//	batch-<partner>-<first 32 hex digits of SHA-256(bucket NUL folder)>
//
// deterministic, so every member of the batch signals the same workflow.
func WorkflowID(partner, bucket, folder string) string {
	h := sha256.Sum256([]byte(bucket + "\x00" + folder))
	return "batch-" + partner + "-" + hex.EncodeToString(h[:])[:32]
}

// Member is what a file's workflow tells its batch once its own
// inspection is done.
type Member struct {
	FileID    string
	Name      string
	Key       string
	VersionID string
	Size      int64
	SHA256    string
	Uploader  string
	// Violations are the partner's rules the file breaks: such a file
	// cannot be released with the batch.
	Violations []string
	// IsManifest marks the manifest; Manifest is what it lists, or
	// ManifestError why it could not be read.
	IsManifest    bool
	Manifest      *Manifest
	ManifestError string
}

// Verdict is the batch's answer to one member.
type Verdict struct {
	Outcome string
	// Reasons say why the batch is quarantined, or what superseded the file.
	Reasons []string
	// Folder and WorkflowID name the batch.
	Folder     string
	WorkflowID string
	// DecidedByBatch is set on a quarantine that the batch's approvers
	// decide on as a whole: the file then takes its decision from
	// DecisionSignal and refuses decisions sent to it directly. A member
	// that arrived after its batch was decided is decided on by itself.
	DecidedByBatch bool
}

// Input starts a batch's workflow; the first member to arrive starts it.
type Input struct {
	Partner  string
	Bucket   string
	Folder   string
	Settings Settings
	// Approval is the partner's policy for the batch's decision.
	Approval approval.Policy
}

// State answers the batch's status query.
type State struct {
	Partner    string
	Bucket     string
	Folder     string
	WorkflowID string
	Status     string
	// Manifest is the manifest member, nil until one arrived.
	Manifest *Member
	// Members are the batch's current files (manifest excluded), by name.
	Members []Member
	// Superseded are the earlier versions that re-uploads replaced.
	Superseded []Member
	// Missing, Mismatched and Unlisted are what keeps the batch from
	// release, as Evaluate found them; Reasons say all of it in words.
	Missing    []string
	Mismatched []string
	Unlisted   []string
	Reasons    []string
	// Late are members that arrived after the batch was decided.
	Late []string
	// Deadline is when an incomplete batch is quarantined.
	Deadline time.Time
	// SHA256 is the batch's digest (Digest): what a signed decision on
	// the batch binds, as a file's decision binds its SHA-256.
	SHA256            string
	Decisions         []approval.Decision
	RequiredApprovals int
	Approvals         int

	settings *Settings
}

// NewState is the state of a batch that has just started.
func NewState(in *Input, workflowID string) State {
	return State{Partner: in.Partner, Bucket: in.Bucket, Folder: in.Folder, WorkflowID: workflowID, Status: Collecting,
		RequiredApprovals: in.Approval.Required(), settings: &in.Settings}
}

// Result is how the batch ended.
type Result struct {
	Status  string
	Reasons []string
	Members []string
}
