package approval

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestRefuse(t *testing.T) {
	p := Policy{Approvers: []string{"alice", "bob"}, RequiredApprovals: 2}
	q := State{Partner: "acme", Uploader: "acme-bot", Stage: "quarantined"}
	approvedByAlice := q
	approvedByAlice.Decisions = []Decision{{Approver: "alice", Kind: ApproveSignal, Accepted: true, At: time.Date(2026, 11, 24, 7, 0, 0, 0, time.UTC)}}
	refusedEve := q
	refusedEve.Decisions = []Decision{{Approver: "alice", Kind: ApproveSignal, Accepted: false}}
	tests := []struct {
		name  string
		state State
		d     Payload
		want  string // "" means accepted
	}{
		{"listed approver", q, Payload{Approver: "alice", Reason: "checked"}, ""},
		{"no approver", q, Payload{Approver: "", Reason: "x"}, "no approver given"},
		{"no reason", q, Payload{Approver: "alice", Reason: " "}, "no reason given"},
		{"not listed", q, Payload{Approver: "eve", Reason: "trust me"}, "eve is not an approver for partner acme"},
		{"partner itself", q, Payload{Approver: "acme", Reason: "mine"}, "acme uploaded this file"},
		{"uploader", q, Payload{Approver: "acme-bot", Reason: "mine"}, "acme-bot uploaded this file"},
		{"not quarantined", State{Partner: "acme", Stage: "delivering"}, Payload{Approver: "alice", Reason: "x"}, "the file is delivering, not quarantined"},
		{"same approver twice", approvedByAlice, Payload{Approver: "alice", Reason: "again"}, "alice already decided (approve at 2026-11-24T07:00:00Z)"},
		{"second approver", approvedByAlice, Payload{Approver: "bob", Reason: "agree"}, ""},
		{"a refused decision does not count", refusedEve, Payload{Approver: "alice", Reason: "now properly"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			class, got := p.Refuse(tt.state, tt.d, ApproveSignal)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("Refuse = %q, want %q", got, tt.want)
			}
			if (class == "") != (got == "") {
				t.Fatalf("Refuse class %q for refusal %q: a refusal has a class, an acceptance none", class, got)
			}
		})
	}
}

func TestPolicy(t *testing.T) {
	if (Policy{}).Enabled() || (Policy{}).Required() != 1 {
		t.Fatal("an empty policy must be disabled and need one approval")
	}
	if err := (Policy{Approvers: []string{"alice"}, RequiredApprovals: 2}).Validate(); err == nil {
		t.Fatal("two approvals from one approver accepted")
	}
	if err := (Policy{Approvers: []string{"alice", " "}}).Validate(); err == nil {
		t.Fatal("an empty approver name accepted")
	}
	if n := Approvals([]Decision{{Approver: "a", Kind: ApproveSignal, Accepted: true}, {Approver: "b", Kind: ApproveSignal}, {Approver: "c", Kind: RejectSignal, Accepted: true}}); n != 1 {
		t.Fatalf("Approvals = %d, want 1", n)
	}
	// Two accepted approvals by one person are one approval.
	if n := Approvals([]Decision{{Approver: "a", Kind: ApproveSignal, Accepted: true}, {Approver: "a", Kind: ApproveSignal, Accepted: true}}); n != 1 {
		t.Fatalf("Approvals of one approver twice = %d, want 1", n)
	}
}

func testKey(t *testing.T) (privPEM []byte, authorized string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(block), string(ssh.MarshalAuthorizedKey(sshPub))
}

func TestSignaturesBindTheDecisionToTheFile(t *testing.T) {
	priv, pub := testKey(t)
	_, otherPub := testKey(t)
	at := time.Date(2026, 11, 24, 7, 30, 0, 0, time.UTC)
	m := Manifest("ingest-acme-1", "abc", ApproveSignal, "alice", "checked", at)
	sig, err := Sign(priv, m, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifySignature(pub, m, sig); err != nil {
		t.Fatalf("a valid signature does not verify: %v", err)
	}
	for name, other := range map[string][]byte{
		"another file":     Manifest("ingest-acme-2", "abc", ApproveSignal, "alice", "checked", at),
		"other bytes":      Manifest("ingest-acme-1", "abd", ApproveSignal, "alice", "checked", at),
		"another decision": Manifest("ingest-acme-1", "abc", RejectSignal, "alice", "checked", at),
		"another reason":   Manifest("ingest-acme-1", "abc", ApproveSignal, "alice", "whatever", at),
	} {
		if err := VerifySignature(pub, other, sig); err == nil {
			t.Errorf("the signature verified for %s", name)
		}
	}
	if err := VerifySignature(otherPub, m, sig); err == nil {
		t.Error("the signature verified with someone else's key")
	}
	if !strings.Contains(string(m), "meaning:approved for release") {
		t.Errorf("the manifest does not state the signature's meaning:\n%s", m)
	}
}
