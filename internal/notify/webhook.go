package notify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/hmacsig"
)

// Webhook posts notifications to an HTTP endpoint.
type Webhook struct {
	cfg    config.Webhook
	client *http.Client
}

// NewWebhook returns the webhook target; requests time out after timeout.
func NewWebhook(cfg config.Webhook, timeout time.Duration) *Webhook {
	return &Webhook{cfg: cfg, client: &http.Client{Timeout: timeout}}
}

func (w *Webhook) Name() string        { return w.cfg.Name }
func (w *Webhook) Route() config.Route { return w.cfg.Route }

// Send posts body with its Idempotency-Key and, when the webhook has a
// secret, X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the body>.
func (w *Webhook) Send(ctx context.Context, ev Event, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request for webhook %s: %w", w.cfg.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ferry-notify/1")
	req.Header.Set("Idempotency-Key", ev.IdempotencyKey())
	if w.cfg.Secret != "" {
		req.Header.Set(hmacsig.Header, hmacsig.Sign([]byte(w.cfg.Secret), body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting to webhook %s (%s): %w", w.cfg.Name, w.cfg.URL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return &PermanentError{Target: "webhook " + w.cfg.Name, Reason: fmt.Sprintf("HTTP %d: %s", resp.StatusCode, snippet)}
	default:
		return fmt.Errorf("webhook %s (%s) answered HTTP %d: %s", w.cfg.Name, w.cfg.URL, resp.StatusCode, snippet)
	}
}
