// Package notify announces what happened to a file to the configured
// webhooks, as one JSON document per outcome.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ferrydata/ferry/internal/config"
)

// Event is the JSON body each webhook receives. Its fields are a contract
// with receivers: add fields, never rename them.
type Event struct {
	// Type is the outcome (file.delivered, file.quarantined,
	// file.rejected, file.failed) or what happens while a file waits
	// (file.reminder, file.escalated).
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
}

// PermanentError is a webhook answer that retrying cannot change (a 4xx
// other than 408 and 429): the receiver rejects the request itself.
type PermanentError struct {
	Webhook string
	Status  int
	Body    string
}

func (e *PermanentError) Error() string {
	return fmt.Sprintf("webhook %s refused the notification with HTTP %d: %s (fix the receiver or the notify.webhooks config)", e.Webhook, e.Status, e.Body)
}

// Notifier posts events to webhooks.
type Notifier struct {
	Webhooks []config.Webhook
	Client   *http.Client
}

// New returns a Notifier whose requests time out after timeout.
func New(hooks []config.Webhook, timeout time.Duration) *Notifier {
	return &Notifier{Webhooks: hooks, Client: &http.Client{Timeout: timeout}}
}

// IdempotencyKey names one notification meant to arrive: the same for
// every retry of it, different for each that must reach the receiver (a
// file's reminders are many; its outcome is one).
func (ev Event) IdempotencyKey() string {
	if ev.Sequence > 0 {
		return fmt.Sprintf("%s/%s/%d", ev.FileID, ev.Type, ev.Sequence)
	}
	return ev.FileID + "/" + ev.Type
}

// Send posts ev to every webhook and returns the first failure. Receivers
// must deduplicate on the Idempotency-Key header: a retried activity may
// repeat a post.
func (n *Notifier) Send(ctx context.Context, ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding notification for %s: %w", ev.FileID, err)
	}
	for _, h := range n.Webhooks {
		if err := n.post(ctx, h, body, ev); err != nil {
			return err
		}
	}
	return nil
}

func (n *Notifier) post(ctx context.Context, h config.Webhook, body []byte, ev Event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request for webhook %s: %w", h.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ferry-notify/1")
	req.Header.Set("Idempotency-Key", ev.IdempotencyKey())
	resp, err := n.Client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to webhook %s (%s): %w", h.Name, h.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return &PermanentError{Webhook: h.Name, Status: resp.StatusCode, Body: string(snippet)}
	default:
		return fmt.Errorf("webhook %s (%s) answered HTTP %d: %s", h.Name, h.URL, resp.StatusCode, snippet)
	}
}
