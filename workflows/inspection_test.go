package workflows

import (
	"context"
	"strings"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/rules"
)

// What scanning and decryption add to a file's journey.

const plainSHA = "0d9e2e0c4b8a9e5e1a1f3c2b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e"

var eicarScan = ingest.ScanFacts{Scanner: "clamd tcp://127.0.0.1:3310", Engine: "ClamAV 1.4.6", Database: "ferry-local",
	Verdict: ingest.ScanFound, Signature: "Eicar-Test-Signature"}

func encryptedInput() *ingest.Input {
	in := approvalInput(1)
	in.Key, in.DestKey, in.QuarantineKey, in.RejectedKey = "acme/inbound/orders.csv.pgp", "acme/orders.csv.pgp", "acme/orders.csv.pgp", "rejected/acme/orders.csv.pgp"
	in.Decrypt = &ingest.Decryption{RequireSignature: true, MaxPlaintextBytes: 1 << 30, MaxExpansion: 1000,
		PlaintextBucket: "quarantine", PlaintextKey: "plaintext/acme/v1/inbound/orders.csv.pgp"}
	return in
}

func decrypted() *ingest.DecryptionFacts {
	return &ingest.DecryptionFacts{CiphertextSize: 480, CiphertextSHA256: fileSHA,
		PlaintextBucket: "quarantine", PlaintextKey: "plaintext/acme/v1/inbound/orders.csv.pgp", PlaintextVersionID: "pv1",
		RecipientFingerprint: "FERRYKEY", SignatureStatus: "valid", SignerFingerprint: "ACMEKEY"}
}

// isPlaintext matches the decrypted plaintext's object.
func isPlaintext(f activities.FileRef) bool {
	return f.Bucket == "quarantine" && f.Key == "plaintext/acme/v1/inbound/orders.csv.pgp" && f.VersionID == "pv1" && f.FileID == testID
}

func (s *ingestSuite) status() ingest.FileState {
	var st ingest.FileState
	q, err := s.env.QueryWorkflow(ingest.StatusQuery)
	s.Require().NoError(err)
	s.Require().NoError(q.Get(&st))
	return st
}

func (s *ingestSuite) auditDetails() string {
	var all []string
	for _, e := range s.trail.stored {
		all = append(all, e.Action+": "+e.Details)
	}
	return strings.Join(all, "\n")
}

func (s *ingestSuite) TestMalwareIsQuarantinedWithTheSignatureShown() {
	reason := "malware found: Eicar-Test-Signature (ClamAV 1.4.6, signatures ferry-local) — do not open the file"
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError(reason, activities.ErrRuleViolation, nil, activities.Violation{
			Reasons: []string{reason}, Classes: []string{rules.ClassMalware},
			Result: activities.InspectResult{Size: 15, SHA256: fileSHA, Scan: eicarScan}}))
	s.env.OnActivity(activities.QuarantineName, mock.Anything, mock.MatchedBy(func(q *activities.QuarantineInput) bool {
		return q.File.Bucket == "landing" && q.File.VersionID == "v1" && q.Key == "acme/orders.csv"
	})).Return(&activities.QuarantineResult{Bucket: "quarantine", Key: "acme/orders.csv", VersionID: "qv1"}, nil).Once()
	// Nobody decides within the test: the workflow is still waiting.
	s.env.RegisterDelayedCallback(func() {
		st := s.status()
		s.Equal(filestatus.Quarantined, st.Stage)
		s.Equal(eicarScan, st.Scan, "the status query shows the detection")
		s.Contains(st.Reasons, reason)
		s.env.CancelWorkflow()
	}, time.Hour)
	s.execute(approvalInput(1))

	s.Equal([]string{"file.quarantined"}, s.notified)
	s.Contains(s.events[0].Reasons, reason, "the notification says what was found")
	s.Contains(s.auditDetails(), "scan found Eicar-Test-Signature by clamd tcp://127.0.0.1:3310 (ClamAV 1.4.6, signatures ferry-local)")
}

func (s *ingestSuite) TestTheDecryptedPlaintextIsDeliveredUnderItsPlainName() {
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.MatchedBy(func(in *activities.InspectInput) bool {
		return in.Decrypt != nil && in.Decrypt.RequireSignature && in.File.Key == "acme/inbound/orders.csv.pgp"
	})).Return(&activities.InspectResult{Size: 100, SHA256: plainSHA, ContentType: "text/plain; charset=utf-8", BytesRead: 100,
		Scan: ingest.ScanFacts{Verdict: ingest.ScanClean, Engine: "ClamAV 1.4.6"}, Decryption: decrypted()}, nil)
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.MatchedBy(func(in *activities.DeliverInput) bool {
		return isPlaintext(in.File) && in.DestKey == "acme/orders.csv" && in.Inspection.SHA256 == plainSHA
	})).Return(&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1"}, nil).Once()
	discarded := 0
	s.env.OnActivity(activities.DiscardPlaintextName, mock.Anything, mock.MatchedBy(func(in *activities.DiscardPlaintextInput) bool {
		return isPlaintext(in.File)
	})).Return(func(context.Context, *activities.DiscardPlaintextInput) error { discarded++; return nil })
	s.execute(encryptedInput())

	s.NoError(s.env.GetWorkflowError())
	st := s.status()
	s.Equal(filestatus.Delivered, st.Stage)
	s.Equal(plainSHA, st.SHA256, "the file's checksum is the plaintext's, as delivered")
	s.Require().NotNil(st.Decryption)
	s.Equal(fileSHA, st.Decryption.CiphertextSHA256, "the ciphertext's as uploaded is kept beside it")
	s.Equal("ACMEKEY", st.Decryption.SignerFingerprint)
	s.Equal(1, discarded, "the plaintext is deleted once delivered")
	s.Contains(s.auditDetails(), "decrypted with key FERRYKEY from ciphertext sha256 "+fileSHA+" (480 bytes); signature valid ACMEKEY")
	s.Contains(s.auditDetails(), "sha256 "+plainSHA)
}

func (s *ingestSuite) TestAQuarantinedPlaintextIsReleasedFromItsOwnObject() {
	reason := "malware found: Eicar-Test-Signature"
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError(reason, activities.ErrRuleViolation, nil, activities.Violation{
			Reasons: []string{reason}, Classes: []string{rules.ClassMalware},
			Result: activities.InspectResult{Size: 100, SHA256: plainSHA, Scan: eicarScan, Decryption: decrypted()}}))
	s.env.OnActivity(activities.QuarantineName, mock.Anything, mock.MatchedBy(func(q *activities.QuarantineInput) bool {
		return isPlaintext(q.File) && q.Key == "acme/orders.csv" && q.SHA256 == plainSHA
	})).Return(&activities.QuarantineResult{Bucket: "quarantine", Key: "acme/orders.csv", VersionID: "qv1"}, nil).Once()
	s.env.OnActivity(activities.DeliverName, mock.Anything, mock.MatchedBy(func(in *activities.DeliverInput) bool {
		return isPlaintext(in.File) && in.DestKey == "acme/orders.csv"
	})).Return(&activities.DeliverResult{DestBucket: "delivered", DestKey: "acme/orders.csv", DestVersionID: "dv1"}, nil).Once()
	discarded := 0
	s.env.OnActivity(activities.DiscardPlaintextName, mock.Anything, mock.Anything).Return(
		func(context.Context, *activities.DiscardPlaintextInput) error { discarded++; return nil })
	s.env.RegisterDelayedCallback(func() {
		s.Equal(0, discarded, "the plaintext is kept while the file waits: a release delivers it")
	}, 30*time.Minute)
	s.signal(time.Hour, approval.ApproveSignal, "alice", "a test file the partner's antivirus vendor sent on purpose")
	s.execute(encryptedInput())

	s.NoError(s.env.GetWorkflowError())
	s.Equal([]filestatus.Status{filestatus.Inspecting, filestatus.Quarantined, filestatus.Approved, filestatus.Delivering, filestatus.Delivered}, s.moves)
	s.Equal(1, discarded)
}

func (s *ingestSuite) TestAnUploadThatCannotBeDecryptedIsQuarantinedAsUploaded() {
	reason := "PGP: the file is encrypted to key 0x1234ABCD, which Ferry does not hold: encrypt it to FERRYKEY"
	s.env.OnActivity(activities.InspectName, mock.Anything, mock.Anything).Return(nil,
		temporal.NewNonRetryableApplicationError(reason, activities.ErrRuleViolation, nil, activities.Violation{
			Reasons: []string{reason}, Classes: []string{rules.ClassDecryption},
			Result: activities.InspectResult{Size: 480, SHA256: fileSHA, ContentType: "application/pgp-encrypted"}}))
	s.env.OnActivity(activities.QuarantineName, mock.Anything, mock.MatchedBy(func(q *activities.QuarantineInput) bool {
		// The ciphertext, under its own name: there is no plaintext.
		return q.File.Bucket == "landing" && q.File.VersionID == "v1" && q.Key == "acme/orders.csv.pgp" && q.SHA256 == fileSHA
	})).Return(&activities.QuarantineResult{Bucket: "quarantine", Key: "acme/orders.csv.pgp", VersionID: "qv1"}, nil).Once()
	s.env.RegisterDelayedCallback(func() {
		st := s.status()
		s.Equal(filestatus.Quarantined, st.Stage)
		s.Nil(st.Decryption)
		s.Contains(st.Reasons, reason)
		s.env.CancelWorkflow()
	}, time.Hour)
	// DiscardPlaintext is not mocked: calling it would fail the test.
	s.execute(encryptedInput())
	s.Equal([]string{"file.quarantined"}, s.notified)
}
