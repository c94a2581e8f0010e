package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/hmacsig"
)

// A receiver that deduplicates on Idempotency-Key, as the contract tells
// it to, must still get every reminder, and only one of each retried post.
func TestIdempotencyKeyKeepsEveryReminderAndDropsRetries(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("Idempotency-Key")]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	n := New(config.Notify{Webhooks: []config.Webhook{{Name: "test", URL: srv.URL}}, Timeout: 5 * time.Second}, nil)
	ev := Event{FileID: "ingest-acme-1", Type: "file.reminder"}
	for seq := 1; seq <= 3; seq++ {
		ev.Sequence = seq
		for range 2 { // each reminder posted twice, as a retried activity would
			if err := n.Send(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := n.Send(context.Background(), Event{FileID: "ingest-acme-1", Type: "file.delivered"}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"ingest-acme-1/file.reminder/1": 2, "ingest-acme-1/file.reminder/2": 2, "ingest-acme-1/file.reminder/3": 2,
		"ingest-acme-1/file.delivered": 1,
	}
	if len(seen) != len(want) {
		t.Fatalf("keys received: %v, want %v", seen, want)
	}
	for k, c := range want {
		if seen[k] != c {
			t.Errorf("key %q received %d times, want %d (all: %v)", k, seen[k], c, seen)
		}
	}
}

// receiver is a webhook endpoint that verifies signatures with secret, as
// the README tells receivers to, and answers status.
type receiver struct {
	mu       sync.Mutex
	got      []Event
	verified []bool
}

func (rc *receiver) server(t *testing.T, secret string, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("receiver got %q: %v", body, err)
		}
		rc.mu.Lock()
		rc.got = append(rc.got, ev)
		rc.verified = append(rc.verified, hmacsig.Verify([]byte(secret), body, r.Header.Get(hmacsig.Header)))
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWebhookSignatureVerifiesOnlyWithItsSecret(t *testing.T) {
	var good, wrong, unsigned receiver
	n := New(config.Notify{Timeout: 5 * time.Second, Webhooks: []config.Webhook{
		{Name: "good", URL: good.server(t, "s3cret", http.StatusNoContent).URL, Secret: "s3cret"},
		{Name: "wrong", URL: wrong.server(t, "other", http.StatusNoContent).URL, Secret: "s3cret"},
		{Name: "unsigned", URL: unsigned.server(t, "s3cret", http.StatusNoContent).URL},
	}}, nil)
	if err := n.Send(context.Background(), Event{FileID: "ingest-acme-1", Type: "file.delivered", Partner: "acme"}); err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]struct {
		r    *receiver
		want bool
	}{"good": {&good, true}, "wrong": {&wrong, false}, "unsigned": {&unsigned, false}} {
		if len(rc.r.verified) != 1 || rc.r.verified[0] != rc.want {
			t.Errorf("receiver %s: verified %v, want [%v]", name, rc.r.verified, rc.want)
		}
	}
}

// A refusing target neither stops the others nor hides a retryable
// failure: the error is permanent only when every failure is.
func TestSendTriesEveryMatchingTarget(t *testing.T) {
	var refusing, down, acmeOnly, quarantineOnly, all receiver
	n := New(config.Notify{Timeout: 5 * time.Second, Webhooks: []config.Webhook{
		{Name: "refusing", URL: refusing.server(t, "", http.StatusBadRequest).URL},
		{Name: "acme-only", URL: acmeOnly.server(t, "", http.StatusOK).URL, Route: config.Route{Partners: []string{"acme"}}},
		{Name: "quarantine-only", URL: quarantineOnly.server(t, "", http.StatusOK).URL, Route: config.Route{Types: []string{"file.quarantined"}}},
		{Name: "all", URL: all.server(t, "", http.StatusOK).URL},
	}}, nil)
	err := n.Send(context.Background(), Event{FileID: "ingest-globex-1", Type: "file.quarantined", Partner: "globex"})
	var se *SendError
	if !errors.As(err, &se) || !se.Permanent() || len(se.Errs) != 1 || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("got %v, want one permanent failure naming the refusing webhook", err)
	}
	if len(acmeOnly.got) != 0 || len(quarantineOnly.got) != 1 || len(all.got) != 1 || len(refusing.got) != 1 {
		t.Fatalf("received: acme-only %d, quarantine-only %d, all %d, refusing %d; want 0, 1, 1, 1",
			len(acmeOnly.got), len(quarantineOnly.got), len(all.got), len(refusing.got))
	}

	n.Targets = append(n.Targets, NewWebhook(config.Webhook{Name: "down", URL: down.server(t, "", http.StatusServiceUnavailable).URL}, time.Second))
	err = n.Send(context.Background(), Event{FileID: "ingest-acme-2", Type: "file.delivered", Partner: "acme"})
	if !errors.As(err, &se) || se.Permanent() || len(se.Errs) != 2 {
		t.Fatalf("got %v, want two failures, not all permanent", err)
	}
	if len(acmeOnly.got) != 1 || len(all.got) != 2 {
		t.Fatalf("acme-only got %d, all got %d; want 1 and 2", len(acmeOnly.got), len(all.got))
	}
}

// An expectation's notifications are one per occurrence and type: the
// key names the partner, the expectation and the day, not a file.
func TestIdempotencyKeyOfAnExpectation(t *testing.T) {
	ev := Event{Type: "partner.file_missing", Partner: "acme", Expectation: "labs", Occurrence: "2026-03-27"}
	if got := ev.IdempotencyKey(); got != "acme/labs/2026-03-27/partner.file_missing" {
		t.Errorf("key %q", got)
	}
	ev.Type, ev.FileID = "partner.file_arrived_late", "ingest-acme-0123"
	if got := ev.IdempotencyKey(); got != "acme/labs/2026-03-27/partner.file_arrived_late" {
		t.Errorf("key %q", got)
	}
}
