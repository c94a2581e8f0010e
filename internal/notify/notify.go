// Package notify announces what happened to a file, as one JSON document
// per notification, to every configured target whose route matches it:
// webhooks (signed with X-Ferry-Signature when they have a secret) and
// SNS topics (with message attributes for filter policies).
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/ferrydata/ferry/internal/config"
)

// Event is the JSON body each target receives. Its fields are a contract
// with receivers: add fields, never rename them.
type Event struct {
	// Type is the outcome (file.delivered, file.quarantined,
	// file.rejected, file.failed), what happens while a file waits
	// (file.reminder, file.escalated), or an expected file's lateness
	// (partner.file_late, partner.file_missing, partner.file_arrived_late).
	Type string `json:"type"`
	// Sequence numbers the notifications of one type that are each meant
	// to arrive (the 1st, 2nd, ... reminder); zero for the once-per-file
	// types.
	Sequence   int       `json:"sequence,omitempty"`
	FileID     string    `json:"fileId"`
	Partner    string    `json:"partner"`
	Bucket     string    `json:"bucket"`
	Key        string    `json:"key"`
	VersionID  string    `json:"versionId,omitempty"`
	Size       int64     `json:"size"`
	SHA256     string    `json:"sha256,omitempty"`
	Status     string    `json:"status"`
	Reasons    []string  `json:"reasons,omitempty"`
	DestBucket string    `json:"destinationBucket,omitempty"`
	DestKey    string    `json:"destinationKey,omitempty"`
	DestVer    string    `json:"destinationVersionId,omitempty"`
	At         time.Time `json:"at"`
	// An expectation's notifications (partner.file_late,
	// partner.file_missing, partner.file_arrived_late) name the
	// expectation, the day its file was due (YYYY-MM-DD in its time zone)
	// and its deadline; file_arrived_late also the file (FileID, Key ...).
	Expectation string    `json:"expectation,omitempty"`
	Occurrence  string    `json:"occurrence,omitempty"`
	Pattern     string    `json:"pattern,omitempty"`
	Deadline    time.Time `json:"deadline,omitzero"`
}

// IdempotencyKey names one notification meant to arrive: the same for
// every retry of it, different for each that must reach the receiver (a
// file's reminders are many; its outcome is one).
func (ev Event) IdempotencyKey() string {
	if ev.Expectation != "" {
		// One per occurrence and type, whichever file closes the gap.
		return fmt.Sprintf("%s/%s/%s/%s", ev.Partner, ev.Expectation, ev.Occurrence, ev.Type)
	}
	if ev.Sequence > 0 {
		return fmt.Sprintf("%s/%s/%d", ev.FileID, ev.Type, ev.Sequence)
	}
	return ev.FileID + "/" + ev.Type
}

// Target is one place notifications go.
type Target interface {
	// Name is the target's name in the config, for errors and logs.
	Name() string
	// Route says which notifications the target gets.
	Route() config.Route
	// Send delivers body, the JSON encoding of ev. It returns a
	// *PermanentError when the target refuses it in a way retrying
	// cannot change.
	Send(ctx context.Context, ev Event, body []byte) error
}

// PermanentError is a refusal that retrying cannot change: a webhook's
// 4xx (other than 408 and 429), an SNS topic that does not exist, missing
// authorization, an invalid parameter.
type PermanentError struct {
	Target string
	Reason string
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("notification target %s refused the notification: %s (fix the receiver or the notify config)", e.Target, e.Reason)
}

// SendError is what Send returns when some targets failed; the others
// received the notification.
type SendError struct {
	Errs []error // one per failed target
}

func (e *SendError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (e *SendError) Unwrap() []error { return e.Errs }

// Permanent reports whether every failure was a refusal: retrying would
// change nothing.
func (e *SendError) Permanent() bool {
	for _, err := range e.Errs {
		var perm *PermanentError
		if !errors.As(err, &perm) {
			return false
		}
	}
	return true
}

// Notifier sends events to its targets.
type Notifier struct {
	Targets []Target
}

// New returns a Notifier for the configured webhooks and SNS topics;
// client publishes to the topics (nil when there are none).
func New(cfg config.Notify, client *sns.Client) *Notifier {
	n := &Notifier{}
	for _, h := range cfg.Webhooks {
		n.Targets = append(n.Targets, NewWebhook(h, cfg.Timeout))
	}
	for _, t := range cfg.SNS {
		n.Targets = append(n.Targets, NewTopic(t, client))
	}
	return n
}

// Send sends ev to every target whose route matches it. One target's
// failure does not keep ev from the others: all are tried, and the
// failures are returned together as a *SendError. A retried Send sends to
// every matching target again, so receivers must deduplicate on the
// idempotency key (the Idempotency-Key header of a webhook, the
// idempotency_key message attribute of an SNS message).
func (n *Notifier) Send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding notification for %s: %w", ev.FileID, err)
	}
	var errs []error
	for _, t := range n.Targets {
		if !t.Route().Matches(ev.Partner, ev.Type) {
			continue
		}
		if err := t.Send(ctx, ev, body); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &SendError{Errs: errs}
	}
	return nil
}
