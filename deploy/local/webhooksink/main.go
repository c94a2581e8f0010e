// Command webhooksink is the local stack's notification receiver: it
// stands in for a partner's or operator's webhook endpoint and appends
// every JSON body it receives, one per line, to a file people and tests
// can read.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:8086", "address to listen on")
	out := flag.String("out", "notifications.jsonl", "file to append received notifications to")
	flag.Parse()

	f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webhooksink:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	http.HandleFunc("POST /notify", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || !json.Valid(body) {
			http.Error(w, "body must be one JSON document", http.StatusBadRequest)
			return
		}
		var line bytes.Buffer
		if err := json.Compact(&line, body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		line.WriteByte('\n')
		mu.Lock()
		_, err = f.Write(line.Bytes())
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		slog.Info("notification received", "idempotency_key", r.Header.Get("Idempotency-Key"))
		w.WriteHeader(http.StatusNoContent)
	})
	srv := &http.Server{Addr: *addr, ReadHeaderTimeout: 10 * time.Second}
	slog.Info("webhook sink listening", "address", *addr, "out", *out)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "webhooksink:", err)
		os.Exit(1)
	}
}
