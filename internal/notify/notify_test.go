package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/config"
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
	n := New([]config.Webhook{{Name: "test", URL: srv.URL}}, 5*time.Second)
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
