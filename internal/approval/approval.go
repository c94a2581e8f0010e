// Package approval decides whether a person may release or reject a
// quarantined file. It is pure and deterministic, so workflow code can
// call it: the policy travels in the workflow input.
package approval

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Signal names and the Update name: a contract with operators, who send
// them with `temporal workflow signal` or tctl.
const (
	ApproveSignal = "approve"
	RejectSignal  = "reject"
	// DecideUpdate is the Update for callers that want a synchronous
	// answer: a refused decision comes back as an error.
	DecideUpdate = "decide"
	// ErrRefused is the error type of a refused decision.
	ErrRefused = "DecisionRefused"
)

// DecideRequest is the decide Update's input: a Payload plus the decision.
//
//	{"approver": "alice", "reason": "...", "decision": "approve"}
type DecideRequest struct {
	Approver  string     `json:"approver"`
	Reason    string     `json:"reason"`
	Decision  string     `json:"decision"`
	Signature *Signature `json:"signature,omitempty"`
}

// DecideResult answers an accepted decision.
type DecideResult struct {
	Decision  string `json:"decision"`
	Approvals int    `json:"approvals"`
	Required  int    `json:"required"`
	// Outcome says what happens now: "released", "rejected" or "waiting
	// for N more approvals".
	Outcome string `json:"outcome"`
}

// Payload is what operators send with a signal:
//
//	{"approver": "alice", "reason": "checked with the partner"}
type Payload struct {
	Approver string `json:"approver"`
	Reason   string `json:"reason"`
	// Signature is set by `ferry approve --key`; partners whose policy
	// requires signatures refuse decisions without a valid one.
	Signature *Signature `json:"signature,omitempty"`
}

// Policy says who may decide on a partner's quarantined files.
type Policy struct {
	// Approvers are the people who may approve or reject.
	Approvers []string `mapstructure:"approvers" json:"approvers,omitempty"`
	// RequiredApprovals is how many distinct approvers must approve before
	// release (1 when unset; 2 for a four-eyes policy). One reject ends it.
	RequiredApprovals int `mapstructure:"required_approvals" json:"requiredApprovals,omitempty"`
	// ReminderInterval: while a file waits, remind (notify) this often.
	ReminderInterval time.Duration `mapstructure:"reminder_interval" json:"reminderInterval,omitempty"`
	// Deadline: how long a file may wait before OnDeadline applies.
	Deadline time.Duration `mapstructure:"deadline" json:"deadline,omitempty"`
	// OnDeadline is "reject" (the file is rejected) or "escalate" (the
	// EscalationApprovers may decide from then on, too).
	OnDeadline          string   `mapstructure:"on_deadline" json:"onDeadline,omitempty"`
	EscalationApprovers []string `mapstructure:"escalation_approvers" json:"escalationApprovers,omitempty"`
	// RequireSignatures refuses decisions that are not signed with the
	// approver's SSH key listed in ApproverKeys (authorized_keys format).
	RequireSignatures bool              `mapstructure:"require_signatures" json:"requireSignatures,omitempty"`
	ApproverKeys      map[string]string `mapstructure:"approver_keys" json:"approverKeys,omitempty"`
}

// Deadline actions.
const (
	OnDeadlineReject   = "reject"
	OnDeadlineEscalate = "escalate"
)

// Escalated returns the policy after escalation: the escalation approvers
// join the approvers.
func (p Policy) Escalated() Policy {
	q := p
	q.Approvers = append(append([]string{}, p.Approvers...), p.EscalationApprovers...)
	return q
}

// Enabled reports whether quarantined files wait for people at all.
func (p Policy) Enabled() bool { return len(p.Approvers) > 0 }

// Required is the number of approvals a release needs.
func (p Policy) Required() int { return max(1, p.RequiredApprovals) }

// Validate reports the first problem with the policy.
func (p Policy) Validate() error {
	if p.RequiredApprovals < 0 {
		return fmt.Errorf("required_approvals must not be negative")
	}
	if p.Enabled() && p.Required() > len(p.Approvers) {
		return fmt.Errorf("required_approvals is %d but only %d approvers are listed", p.Required(), len(p.Approvers))
	}
	for _, a := range p.Approvers {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("approvers: an approver name is empty")
		}
	}
	if p.ReminderInterval < 0 || p.Deadline < 0 {
		return fmt.Errorf("reminder_interval and deadline must not be negative")
	}
	switch p.OnDeadline {
	case "":
		if p.Deadline > 0 {
			return fmt.Errorf("deadline is set but on_deadline is empty: use %s or %s", OnDeadlineReject, OnDeadlineEscalate)
		}
	case OnDeadlineReject:
	case OnDeadlineEscalate:
		if len(p.EscalationApprovers) == 0 {
			return fmt.Errorf("on_deadline %s needs escalation_approvers", OnDeadlineEscalate)
		}
	default:
		return fmt.Errorf("on_deadline %q is not %s or %s", p.OnDeadline, OnDeadlineReject, OnDeadlineEscalate)
	}
	for _, a := range append(append([]string{}, p.Approvers...), p.EscalationApprovers...) {
		if p.RequireSignatures && p.ApproverKeys[a] == "" {
			return fmt.Errorf("require_signatures is set but approver_keys has no key for %s", a)
		}
	}
	for a, k := range p.ApproverKeys {
		if err := VerifySignature(k, nil, &Signature{}); err != nil && strings.Contains(err.Error(), "cannot be read") {
			return fmt.Errorf("approver_keys.%s: %w", a, err)
		}
	}
	if p.OnDeadline != "" && p.Deadline <= 0 {
		return fmt.Errorf("on_deadline %s needs a deadline like 72h", p.OnDeadline)
	}
	return nil
}

// Decision is one decision as the workflow records it, accepted or not.
type Decision struct {
	Approver string
	Reason   string
	// Kind is ApproveSignal or RejectSignal.
	Kind string
	At   time.Time
	// Accepted is false for a refused decision; Refusal says why.
	Accepted bool
	Refusal  string
	// Signed decisions carry the manifestation of the signature: the
	// approver's name (above), when it was signed and what it means.
	Signed   bool
	SignedAt time.Time
	Meaning  string
}

// State is what the check needs to know about the file.
type State struct {
	Partner  string
	Uploader string // the principal that uploaded the file, from the S3 event
	Stage    string
	// Decisions so far (accepted and refused).
	Decisions []Decision
}

// Refusal classes: why a decision was refused, in one fixed word (a
// metric label).
const (
	RefusedNoApprover     = "no_approver"
	RefusedNoReason       = "no_reason"
	RefusedNotQuarantined = "not_quarantined"
	RefusedUploader       = "uploader"
	RefusedNotApprover    = "not_approver"
	RefusedAlreadyDecided = "already_decided"
)

// Refuse returns why the decision must be refused and the refusal's
// class, or "" and "" to accept it.
func (p Policy) Refuse(s State, d Payload, kind string) (class, why string) {
	who := strings.TrimSpace(d.Approver)
	switch {
	case who == "":
		return RefusedNoApprover, `no approver given: send {"approver": "<your name>", "reason": "..."}`
	case strings.TrimSpace(d.Reason) == "":
		return RefusedNoReason, "no reason given: every decision must say why"
	case s.Stage != "quarantined":
		return RefusedNotQuarantined, fmt.Sprintf("the file is %s, not quarantined: there is nothing to decide", s.Stage)
	case strings.EqualFold(who, s.Partner) || (s.Uploader != "" && strings.EqualFold(who, s.Uploader)):
		return RefusedUploader, fmt.Sprintf("%s uploaded this file and may not decide on it", who)
	case !slices.Contains(p.Approvers, who):
		return RefusedNotApprover, fmt.Sprintf("%s is not an approver for partner %s (approvers: %s)", who, s.Partner, strings.Join(p.Approvers, ", "))
	}
	for _, prev := range s.Decisions {
		if prev.Accepted && prev.Approver == who {
			return RefusedAlreadyDecided, fmt.Sprintf("%s already decided (%s at %s); another approver must decide", who, prev.Kind, prev.At.UTC().Format(time.RFC3339))
		}
	}
	return "", ""
}

// Approvals counts the distinct approvers whose approval was accepted: a
// four-eyes policy needs two people, not two messages from one.
func Approvals(ds []Decision) int {
	var who []string
	for _, d := range ds {
		if d.Accepted && d.Kind == ApproveSignal && !slices.Contains(who, d.Approver) {
			who = append(who, d.Approver)
		}
	}
	return len(who)
}
