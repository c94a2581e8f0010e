package evidence

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/rules"
)

const fileID = "ingest-acme-0123456789abcdef"

// trail builds a chained audit trail as the workflow writes it.
func trail(steps ...[3]string) []audit.Entry {
	var es []audit.Entry
	at := time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)
	for i, s := range steps {
		var prev *audit.Entry
		if i > 0 {
			prev = &es[i-1]
		}
		es = append(es, audit.Next(prev, fileID, at.Add(time.Duration(i)*time.Second), s[0], s[1], s[2]))
	}
	return es
}

func quarantinedThenApproved() Sources {
	signed := time.Date(2026, 11, 24, 6, 5, 0, 0, time.UTC)
	return Sources{
		Record: &filestore.File{
			FileID: fileID, Partner: "acme", Bucket: "landing", Key: "acme/inbound/orders.exe", VersionID: "v1", Size: 15,
			Status: filestatus.Delivered, Reasons: []string{`extension ".exe" is not allowed`},
			SHA256: "cd74993f", S3ChecksumAlg: "CRC32", S3Checksum: "RbrvGg==", PartnerSHA256: "cd74993f",
			QuarantineBucket: "quarantine", QuarantineKey: "acme/orders.exe", QuarantineVersionID: "qv1",
			DestBucket: "delivered", DestKey: "acme/orders.exe", DestVersionID: "dv1",
			Encryption: "aws:kms", KMSKeyID: "alias/ferry", RetentionMode: "GOVERNANCE", RetainUntil: "2027-11-24T06:00:00Z",
			ScanVerdict: "clean", Scanner: "clamd tcp://127.0.0.1:3310", ScanEngine: "ClamAV 1.4.6", ScanDatabase: "1",
			Principal: "acme", SourceIP: "127.0.0.1", RequestID: "18EAE6182707631D", EventTime: "2026-11-24T06:00:00Z",
			ReceivedAt: "2026-11-24T06:00:00Z", UpdatedAt: "2026-11-24T06:06:00Z",
		},
		Trail: trail(
			[3]string{"ferry", "status:received", "s3://landing/acme/inbound/orders.exe version v1; provenance: principal acme"},
			[3]string{"ferry", "status:quarantined", `extension ".exe" is not allowed`},
			[3]string{"alice", "approve", "expected [signed by alice at 2026-11-24T06:05:00Z: approved for release]"},
			[3]string{"bob", "approve", "checked"},
			[3]string{"ferry", "status:delivered", "delivered to s3://delivered/acme/orders.exe version dv1"},
		),
		Input: &ingest.Input{Rules: rules.Rules{AllowedExtensions: []string{".csv"}}},
		State: &ingest.FileState{Decisions: []approval.Decision{
			{Approver: "alice", Reason: "expected", Kind: "approve", Accepted: true, Signed: true, SignedAt: signed, Meaning: approval.Meaning("approve")},
			{Approver: "bob", Reason: "checked", Kind: "approve", Accepted: true},
		}},
	}
}

func TestBuildTellsTheJourney(t *testing.T) {
	f := Build(quarantinedThenApproved())
	if f.Provenance == nil || f.Provenance.SourceIP != "127.0.0.1" || f.Provenance.RequestID != "18EAE6182707631D" || f.Provenance.EventTime.IsZero() {
		t.Errorf("provenance %+v", f.Provenance)
	}
	if !f.Chain.Intact || len(f.Timeline) != 5 || f.Timeline[1].What != "quarantined" || f.Timeline[2].What != "approval" {
		t.Errorf("chain %+v, timeline %+v", f.Chain.Result, f.Timeline)
	}
	if f.Anchor != NoAnchor {
		t.Errorf("anchor %+v without a checker, want %+v", f.Anchor, NoAnchor)
	}
	byName := map[string]Check{}
	for _, c := range f.Checks {
		byName[c.Name] = c
	}
	for name, want := range map[string]string{
		"Partner rules": Failed, "Checksum stored by S3": Passed, "Partner's checksum sidecar": Passed,
		"Malware scan": Passed, "Delivered copy verified": Passed, "SHA-256 of the bytes read": Passed,
	} {
		if byName[name].Result != want {
			t.Errorf("check %q: %+v, want %s", name, byName[name], want)
		}
	}
	if !strings.Contains(byName["Partner rules"].Detail, "extensions .csv") {
		t.Errorf("rules detail %q does not name the rules from the input", byName["Partner rules"].Detail)
	}
	if f.Quarantine == nil || f.Delivery == nil || f.Delivery.VersionID != "dv1" || f.Delivery.RetentionMode != "GOVERNANCE" {
		t.Errorf("quarantine %+v, delivery %+v", f.Quarantine, f.Delivery)
	}
	if len(f.Decisions) != 2 || !f.Decisions[0].Signed || f.Decisions[0].Meaning != "approved for release" || f.DecisionsFrom != "the workflow's status query" {
		t.Errorf("decisions %+v from %s", f.Decisions, f.DecisionsFrom)
	}
}

// Once Temporal no longer holds the workflow, decisions come from the
// audit trail, which states their signatures.
func TestBuildWithoutTheWorkflow(t *testing.T) {
	s := quarantinedThenApproved()
	s.Input, s.State, s.WorkflowNote = nil, nil, "workflow not found"
	f := Build(s)
	if f.DecisionsFrom != "the audit trail" || len(f.Decisions) != 2 || f.Decisions[0].Approver != "alice" || !f.Decisions[0].Signed || f.Decisions[1].Signed {
		t.Errorf("decisions %+v from %s", f.Decisions, f.DecisionsFrom)
	}
	if !strings.Contains(f.Workflow, "workflow not found") {
		t.Errorf("workflow %q does not say why it was not read", f.Workflow)
	}
}

func TestBuildFailsASidecarThatDisagrees(t *testing.T) {
	s := quarantinedThenApproved()
	s.Record.PartnerSHA256 = "0000"
	for _, c := range Build(s).Checks {
		if c.Name == "Partner's checksum sidecar" && (c.Result != Failed || !strings.Contains(c.Detail, "says SHA-256 0000")) {
			t.Errorf("sidecar check %+v, want failed", c)
		}
	}
}

func TestBuildSaysWhereTheChainBreaks(t *testing.T) {
	s := quarantinedThenApproved()
	s.Trail[2].Details = "edited"
	f := Build(s)
	if f.Chain.Intact || !strings.Contains(f.Chain.Result, "entry 3") {
		t.Errorf("chain %+v", f.Chain.Result)
	}
}

func TestRenderHTMLAndJSONHoldTheSameFacts(t *testing.T) {
	r := &Report{Title: "Evidence report", Scope: "file " + fileID, GeneratedAt: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		Files: []File{Build(quarantinedThenApproved())}}
	var h bytes.Buffer
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fileID, "127.0.0.1", "18EAE6182707631D", "approved for release", "dv1", "aws:kms", "GOVERNANCE", "Chain verified", "not anchored: no anchor configured", "@media print"} {
		if !strings.Contains(h.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	for _, external := range []string{"<script", "<link", "src=\"http", "url(http"} {
		if strings.Contains(h.String(), external) {
			t.Errorf("HTML has %q: the document must be self-contained", external)
		}
	}
	var j bytes.Buffer
	if err := r.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, r) {
		t.Errorf("JSON round trip differs:\n got %+v\nwant %+v", back, *r)
	}
}
