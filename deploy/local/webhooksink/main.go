// Command webhooksink is the local stack's notification receiver: it
// stands in for a partner's or operator's webhook endpoint and appends
// every JSON body it receives, one per line, to a file people and tests
// can read. With a secret it verifies X-Ferry-Signature as a receiver
// should, and records the outcome beside each notification. It is also
// the local Alertmanager's webhook receiver: POST /alerts appends
// Alertmanager's notifications to a second file.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/ferrydata/ferry/internal/hmacsig"
)

// record is one line of the output file.
type record struct {
	// Notification is the body as received.
	Notification json.RawMessage `json:"notification"`
	// IdempotencyKey is the header receivers deduplicate on.
	IdempotencyKey string `json:"idempotencyKey"`
	// SignatureVerified: X-Ferry-Signature matched the body under the secret.
	SignatureVerified bool `json:"signatureVerified"`
}

func main() {
	addr := flag.String("listen", "127.0.0.1:8086", "address to listen on")
	out := flag.String("out", "notifications.jsonl", "file to append received notifications to")
	secretEnv := flag.String("secret-env", "", "environment variable holding the webhook's HMAC secret (empty: signatures are not checked)")
	alertsOut := flag.String("alerts-out", "alerts.jsonl", "file to append Alertmanager's notifications (POST /alerts) to")
	flag.Parse()
	var secret []byte
	if *secretEnv != "" {
		if secret = []byte(os.Getenv(*secretEnv)); len(secret) == 0 {
			fmt.Fprintf(os.Stderr, "webhooksink: --secret-env %s: the variable is unset or empty\n", *secretEnv)
			os.Exit(1)
		}
	}

	f := appendTo(*out)
	alerts := appendTo(*alertsOut)
	var mu sync.Mutex
	// Alertmanager's webhook payload (version 4), one per line as received.
	http.HandleFunc("POST /alerts", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var payload struct {
			Status string `json:"status"`
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
		}
		if err != nil || json.Unmarshal(body, &payload) != nil {
			http.Error(w, "body must be Alertmanager's webhook JSON", http.StatusBadRequest)
			return
		}
		line, err := json.Marshal(json.RawMessage(body)) // compacts it to one line
		if err == nil {
			mu.Lock()
			_, err = alerts.Write(append(line, '\n'))
			mu.Unlock()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, a := range payload.Alerts {
			slog.Info("alert received", "status", payload.Status, "alertname", a.Labels["alertname"], "partner", a.Labels["partner"])
		}
		w.WriteHeader(http.StatusNoContent)
	})
	http.HandleFunc("POST /notify", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || !json.Valid(body) {
			http.Error(w, "body must be one JSON document", http.StatusBadRequest)
			return
		}
		rec := record{Notification: body, IdempotencyKey: r.Header.Get("Idempotency-Key"),
			SignatureVerified: hmacsig.Verify(secret, body, r.Header.Get(hmacsig.Header))}
		line, err := json.Marshal(rec) // compacts the body too
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		_, err = f.Write(append(line, '\n'))
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		slog.Info("notification received", "idempotency_key", rec.IdempotencyKey, "signature_verified", rec.SignatureVerified)
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("webhook sink listening", "address", *addr, "out", *out, "alerts_out", *alertsOut, "verifies_signatures", len(secret) > 0)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "webhooksink:", err)
		os.Exit(1)
	}
}

// appendTo opens path for appending, or exits saying why it cannot.
func appendTo(path string) *os.File {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhooksink:", err)
		os.Exit(1)
	}
	return f
}
