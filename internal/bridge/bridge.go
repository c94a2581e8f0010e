// Package bridge turns S3 event notifications, POSTed over HTTP or read
// from SQS, into IngestFile workflow starts through internal/intake. An
// event is acknowledged (2xx, or its message deleted) only after Temporal
// has durably accepted the start; duplicates and replays land on the same
// workflow ID and are no-ops, so the sender may retry freely.
package bridge

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ferrydata/ferry/internal/hmacsig"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/s3event"
)

// EventsPath is where S3 event notifications are POSTed.
const EventsPath = "/v1/s3-events"

// HTTPShutdownTimeout bounds how long a stopping bridge waits for its
// in-flight HTTP requests (each waits at most for its start). The SQS
// consumer stops beside it, within bridge.sqs.wait_time (its last long
// poll) plus bridge.sqs.shutdown_grace; an orchestrator's grace period
// must be longer than both (the Helm chart's test checks it).
const HTTPShutdownTimeout = 30 * time.Second

// Bridge receives events over HTTP and hands each object to intake.
type Bridge struct {
	// Intake plans and starts; the SQS consumer of the same process shares
	// it, and so its bound. Its Config also holds the bridge's credentials.
	Intake *intake.Intake
	Log    *slog.Logger
}

// Handler serves EventsPath. Health is served beside the metrics
// (internal/health), on the bridge's ops port, like the worker's.
func (b *Bridge) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+EventsPath, b.serveEvents)
	return mux
}

func (b *Bridge) serveEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.Intake.Config.Bridge.MaxBodyBytes))
	if !b.authorized(r, body) {
		b.Log.Warn("refused event: bad or missing credentials", "remote", r.RemoteAddr)
		b.Intake.Metrics.HTTPRefused(r.Context(), http.StatusUnauthorized)
		w.Header().Set("WWW-Authenticate", `Bearer realm="ferry-bridge"`)
		http.Error(w, "missing or wrong credentials: send Authorization: Bearer <bridge.auth_token>, or X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the body with bridge.hmac_secret>", http.StatusUnauthorized)
		return
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		b.Intake.Metrics.HTTPRefused(r.Context(), http.StatusRequestEntityTooLarge)
		http.Error(w, fmt.Sprintf("body over %d bytes: send one S3 event notification per request", tooBig.Limit), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		b.Intake.Metrics.HTTPRefused(r.Context(), http.StatusBadRequest)
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	objs, err := s3event.Parse(body)
	if errors.Is(err, s3event.ErrTestEvent) {
		b.Log.Info("acknowledged s3:TestEvent")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		b.Log.Warn("refused malformed event", "error", err, "remote", r.RemoteAddr)
		b.Intake.Metrics.HTTPRefused(r.Context(), http.StatusBadRequest)
		http.Error(w, "malformed S3 event: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, o := range objs {
		o.Via = "http/" + o.Via
		// No known-check: the start's reuse policy makes a replayed event
		// a no-op.
		if _, err := b.Intake.Ingest(r.Context(), o, intake.SkipKnownCheck); errors.Is(err, intake.ErrBusy) {
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		} else if err != nil {
			// 503 makes the sender keep the event and retry: nothing is lost
			// while Temporal is unreachable.
			http.Error(w, "could not start ingestion, retry later: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (b *Bridge) authorized(r *http.Request, body []byte) bool {
	cfg := b.Intake.Config.Bridge
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && cfg.AuthToken != "" {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(cfg.AuthToken)) == 1
	}
	if sig := r.Header.Get(hmacsig.Header); sig != "" && cfg.HMACSecret != "" {
		return hmacsig.Verify([]byte(cfg.HMACSecret), body, sig)
	}
	return false
}
