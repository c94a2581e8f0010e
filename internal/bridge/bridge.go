// Package bridge turns S3 event notifications into IngestFile workflow
// starts. An event is acknowledged (2xx) only after Temporal has durably
// accepted the start; duplicates and replays land on the same workflow ID
// and are no-ops, so the sender may retry freely.
package bridge

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/landing"
	"github.com/ferrydata/ferry/internal/s3event"
)

// EventsPath is where S3 event notifications are POSTed.
const EventsPath = "/v1/s3-events"

// Starter starts workflows; client.Client satisfies it.
type Starter interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
}

// Bridge receives events and starts workflows.
type Bridge struct {
	Temporal Starter
	Config   *config.Config
	Log      *slog.Logger

	throttleOnce sync.Once
	slots        *semaphore.Weighted
	limiter      *rate.Limiter
}

// ErrBusy says the bridge is at its bound of concurrent starts or its rate
// limit: the sender must retry later, and nothing is lost.
var ErrBusy = errors.New("the bridge is at its start limit; retry later")

// acquire waits for a start slot and the rate limiter, for at most wait
// (zero: as long as ctx lasts); the returned func gives the slot back.
func (b *Bridge) acquire(ctx context.Context, wait time.Duration) (func(), error) {
	b.throttleOnce.Do(func() {
		c := b.Config.Bridge
		b.slots = semaphore.NewWeighted(int64(max(1, c.MaxConcurrentStarts)))
		b.limiter = rate.NewLimiter(rate.Limit(max(c.StartsPerSecond, 1)), max(1, c.MaxConcurrentStarts))
	})
	waitCtx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		waitCtx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	busy := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return ErrBusy
	}
	if b.slots.Acquire(waitCtx, 1) != nil {
		return nil, busy()
	}
	if b.limiter.Wait(waitCtx) != nil {
		b.slots.Release(1)
		return nil, busy()
	}
	return func() { b.slots.Release(1) }, nil
}

// Outcome is what the bridge did with one event record.
type Outcome struct {
	WorkflowID string
	// Accepted is true when Temporal accepted the start, or joined it to
	// the running workflow of the same object version.
	Accepted bool
	// Ignored says why a record was not ingested; empty otherwise.
	Ignored string
}

// Handler serves EventsPath and /healthz.
func (b *Bridge) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+EventsPath, b.serveEvents)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

func (b *Bridge) serveEvents(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.Config.Bridge.MaxBodyBytes))
	if !b.authorized(r, body) {
		b.Log.Warn("refused event: bad or missing credentials", "remote", r.RemoteAddr)
		w.Header().Set("WWW-Authenticate", `Bearer realm="ferry-bridge"`)
		http.Error(w, "missing or wrong credentials: send Authorization: Bearer <bridge.auth_token>, or X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the body with bridge.hmac_secret>", http.StatusUnauthorized)
		return
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, fmt.Sprintf("body over %d bytes: send one S3 event notification per request", tooBig.Limit), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
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
		http.Error(w, "malformed S3 event: "+err.Error(), http.StatusBadRequest)
		return
	}
	for _, o := range objs {
		o.Via = "http/" + o.Via
		if _, err := b.Ingest(r.Context(), o); errors.Is(err, ErrBusy) {
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
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && b.Config.Bridge.AuthToken != "" {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(b.Config.Bridge.AuthToken)) == 1
	}
	if sig, ok := strings.CutPrefix(r.Header.Get("X-Ferry-Signature"), "sha256="); ok && b.Config.Bridge.HMACSecret != "" {
		got, err := hex.DecodeString(sig)
		if err != nil {
			return false
		}
		mac := hmac.New(sha256.New, []byte(b.Config.Bridge.HMACSecret))
		mac.Write(body)
		return hmac.Equal(got, mac.Sum(nil))
	}
	return false
}

// Router routes landing keys by the config: which partner, which are
// temporary names or sidecars.
func (b *Bridge) Router() landing.Router {
	return landing.Router{
		Partners:          b.Config.HasPartner,
		TemporarySuffixes: b.Config.Landing.TemporarySuffixes,
		Sidecars:          func(p string) bool { return b.Config.Partners[p].Rules.Sidecar.Required },
	}
}

// Ingest starts the IngestFile workflow for one event record, or says why
// the record is ignored. It returns an error only when the start could not
// be made durable; the caller must then not acknowledge the event. At the
// bridge's bound it waits bridge.queue_wait, then returns ErrBusy: an HTTP
// sender is better told to retry than kept waiting.
func (b *Bridge) Ingest(ctx context.Context, o s3event.Object) (Outcome, error) {
	return b.ingest(ctx, o, b.Config.Bridge.QueueWait)
}

// IngestWhenFree is Ingest for callers that keep their event safe while
// they wait (an SQS message kept hidden, the reconciler's and backfill's
// listings): at the bound it waits for as long as ctx lasts, never ErrBusy.
func (b *Bridge) IngestWhenFree(ctx context.Context, o s3event.Object) (Outcome, error) {
	return b.ingest(ctx, o, 0)
}

func (b *Bridge) ingest(ctx context.Context, o s3event.Object, wait time.Duration) (Outcome, error) {
	log := b.Log.With("event", o.EventName, "via", o.Via, "bucket", o.Bucket, "key", o.Key, "version_id", o.VersionID)
	ignore := func(reason string, expected bool) (Outcome, error) {
		if expected {
			log.Debug("ignored event", "reason", reason)
		} else {
			// It may be a partner's file that nobody will deliver: say so.
			log.Warn("ignored event: the object will not be ingested", "reason", reason)
		}
		return Outcome{Ignored: reason}, nil
	}
	if !o.Created() {
		return ignore("event "+o.EventName+" does not create an object", true)
	}
	if o.Bucket != b.Config.Landing.Bucket {
		return ignore(fmt.Sprintf("bucket %s is not the landing bucket %s", o.Bucket, b.Config.Landing.Bucket), false)
	}
	up, err := b.Router().Route(o.Key, o.Size)
	var ign *landing.Ignored
	if errors.As(err, &ign) {
		return ignore(ign.Reason, ign.Expected)
	}
	partner := b.Config.Partners[up.Partner]
	id := fileid.WorkflowID(up.Partner, o.Bucket, o.Key, fileid.VersionOrETag(o.VersionID, o.ETag))
	in := &ingest.Input{
		FileID: id, Partner: up.Partner, Bucket: o.Bucket, Key: o.Key, VersionID: o.VersionID, ETag: o.ETag,
		Size: o.Size, EventName: o.EventName, EventTime: o.EventTime, Source: o.Via, Rules: partner.Rules,
		DestBucket: partner.Destination.Bucket, DestKey: partner.Destination.Prefix + up.Path,
		Governance:       partner.Governance,
		QuarantineBucket: b.Config.Quarantine.Bucket, QuarantineKey: up.Partner + "/" + up.Path,
		RejectedKey: "rejected/" + up.Partner + "/" + up.Path,
		Approval:    partner.Approval, Uploader: o.Principal,
		Copy: ingest.CopyOptions{
			MultipartThresholdBytes: b.Config.Delivery.MultipartThresholdBytes,
			PartSizeBytes:           b.Config.Delivery.PartSizeBytes,
			Concurrency:             b.Config.Delivery.CopyConcurrency,
		},
	}
	opts := client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: b.Config.Temporal.TaskQueue,
		// One execution per object version, ever: a running duplicate joins
		// the running workflow, a finished one is refused.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			ingest.PartnerAttr.ValueSet(up.Partner),
			ingest.ObjectKeyAttr.ValueSet(o.Key),
			ingest.FileStatusAttr.ValueSet("received"),
		),
		StaticSummary: fmt.Sprintf("%s: %s", up.Partner, up.Path),
		StaticDetails: fmt.Sprintf("s3://%s/%s\n\nversion `%s` · %d bytes · %s", o.Bucket, o.Key, fileid.VersionOrETag(o.VersionID, o.ETag), o.Size, o.EventName),
	}
	release, err := b.acquire(ctx, wait)
	if errors.Is(err, ErrBusy) {
		log.Warn("start deferred: the bridge is at its limit", "workflow_id", id)
	}
	if err != nil {
		return Outcome{}, err
	}
	defer release()
	run, err := b.Temporal.ExecuteWorkflow(ctx, opts, ingest.WorkflowName, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		log.Info("duplicate event: workflow already exists", "workflow_id", id)
		return Outcome{WorkflowID: id, Accepted: true}, nil
	}
	if err != nil {
		log.Error("could not start workflow", "workflow_id", id, "error", err)
		return Outcome{}, fmt.Errorf("starting workflow %s for s3://%s/%s: %w", id, o.Bucket, o.Key, err)
	}
	log.Info("ingestion start accepted", "workflow_id", id, "run_id", run.GetRunID(), "partner", up.Partner)
	return Outcome{WorkflowID: id, Accepted: true}, nil
}
