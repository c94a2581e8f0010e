// Package intake is the one path by which an object version in landing
// becomes an IngestFile workflow, whoever found it: the bridge's HTTP
// endpoint and SQS consumer, the reconciler and a backfill are adapters
// over it.
//
// For each object version intake plans — routes it (landing bucket, the
// partner's upload folder, event kind) to ignore, already known or start,
// and computes the workflow ID, input and start options — then starts it
// within one bound and rate limit shared by every source in the process.
// The plan is all a dry run needs: it is the same function, without the
// start.
package intake

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/landing"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/s3event"
)

// Starter starts workflows; client.Client satisfies it.
type Starter interface {
	ExecuteWorkflow(ctx context.Context, options client.StartWorkflowOptions, workflow any, args ...any) (client.WorkflowRun, error)
}

// Intake plans and starts ingestion. Build one per process and share it
// between the sources in it, so that they share its bound.
type Intake struct {
	Config *config.Config
	// Temporal starts the workflows.
	Temporal Starter
	// Workflows and Files answer the known-check (CheckKnown); sources that
	// never ask for it (the bridge) leave them nil.
	Workflows Describer
	Files     Records
	Log       *slog.Logger
	// Metrics counts what intake does, by source and result; nil counts
	// nothing.
	Metrics *metrics.Instruments
	// Arrivals tells expectations (internal/expect) that a file they wait
	// for has come; nil tells none.
	Arrivals Signaler

	throttleOnce sync.Once
	slots        *semaphore.Weighted
	limiter      *rate.Limiter
}

// Decision is what intake does with one object version.
type Decision int

const (
	// Ignore: not a partner's upload to ingest (Plan.Reason says why).
	Ignore Decision = iota + 1
	// Known: a workflow or a record for the version exists already.
	Known
	// Start: a file to ingest; its workflow is started.
	Start
)

func (d Decision) String() string {
	switch d {
	case Ignore:
		return "ignore"
	case Known:
		return "known"
	case Start:
		return "start"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// Check says whether Plan asks Temporal and the file store whether a
// version is already known.
type Check int

const (
	// SkipKnownCheck is for event sources: the start's reuse policy
	// refuses a second execution of a version Temporal still remembers,
	// and the workflow's own record check covers the rest, so asking
	// first would only cost two lookups per event.
	SkipKnownCheck Check = iota
	// CheckKnown is for listings (reconciler, backfill): most of what they
	// list is long known, and a version whose workflow Temporal's
	// retention has removed must not be started again.
	CheckKnown
)

// Plan is the decision for one object version and, when it is Start,
// everything the start needs.
type Plan struct {
	Decision Decision
	// Reason says why the version is ignored; Expected is true when
	// ignoring it is routine (folder markers, sidecars, temporary names,
	// events that create nothing) rather than a file nobody will deliver.
	Reason   string
	Expected bool
	// ReasonClass is Reason as a fixed word, for metrics: not_created,
	// other_bucket, or landing.Ignored's Class.
	ReasonClass string

	Object  s3event.Object
	Partner string
	// Path is the key below the partner's inbound/ folder.
	Path       string
	WorkflowID string
	Input      *ingest.Input
	Options    client.StartWorkflowOptions
}

// ErrBusy says intake is at its bound of concurrent starts or its rate
// limit: the sender must retry later, and nothing is lost.
var ErrBusy = errors.New("the bridge is at its start limit; retry later")

// Plan decides what to do with one object version: ignore it, count it as
// known (only with CheckKnown), or start it. It returns an error only when
// the known-check could not be answered.
func (in *Intake) Plan(ctx context.Context, o s3event.Object, check Check) (Plan, error) {
	return in.decide(ctx, in.route(o), check, nil)
}

// decide finishes a routed plan: logs an ignored version and, with
// CheckKnown, asks whether the file is known. recorded, when not nil,
// already says which workflow IDs have a record (PlanPage asked for them
// together), so only Temporal is asked about the others.
func (in *Intake) decide(ctx context.Context, p Plan, check Check, recorded map[string]bool) (Plan, error) {
	log := in.logger(p)
	switch {
	case p.Decision == Ignore && p.Expected:
		log.Debug("ignored event", "reason", p.Reason)
	case p.Decision == Ignore:
		// It may be a partner's file that nobody will deliver: say so.
		log.Warn("ignored event: the object will not be ingested", "reason", p.Reason)
	case check == CheckKnown:
		var known bool
		var err error
		if recorded != nil {
			known = recorded[p.WorkflowID]
			if !known {
				known, err = in.running(ctx, p.WorkflowID)
			}
		} else {
			known, err = in.known(ctx, p.WorkflowID)
		}
		if err != nil {
			o := p.Object
			return Plan{}, fmt.Errorf("checking whether s3://%s/%s (version %s) is already known: %w", o.Bucket, o.Key, o.VersionID, err)
		}
		if known {
			p.Decision = Known
			log.Debug("already known: a workflow or a record exists")
		}
	}
	return p, nil
}

// PlanPage plans a listing's versions as Plan with CheckKnown does, but
// asks the file store for all their records at once (in batches, when
// Files is a BatchRecords) instead of one lookup per version: a listing
// is mostly files delivered long ago, and the reconciler lists every
// landing version at every run.
func (in *Intake) PlanPage(ctx context.Context, objs []s3event.Object) ([]Plan, error) {
	plans := make([]Plan, len(objs))
	var ids []string
	for i, o := range objs {
		if plans[i] = in.route(o); plans[i].Decision == Start {
			ids = append(ids, plans[i].WorkflowID)
		}
	}
	var recorded map[string]bool // nil: decide asks one by one
	if batch, ok := in.Files.(BatchRecords); ok && len(ids) > 0 {
		var err error
		if recorded, err = batch.Recorded(ctx, ids); err != nil {
			in.Metrics.Intake(ctx, objs[0].Via, "failed", "")
			return nil, fmt.Errorf("checking which of %d listed versions are already recorded (is DynamoDB reachable?): %w", len(ids), err)
		}
	}
	for i, p := range plans {
		var err error
		if plans[i], err = in.decide(ctx, p, CheckKnown, recorded); err != nil {
			in.Metrics.Intake(ctx, p.Object.Via, "failed", "")
			return nil, err
		}
	}
	return plans, nil
}

// ActWhenFree does what p says, as IngestWhenFree does after planning:
// counts an ignored or known version, starts a file, waiting at the bound
// for as long as ctx lasts.
func (in *Intake) ActWhenFree(ctx context.Context, p Plan) error {
	return in.act(ctx, p, 0)
}

// Ingest plans o and starts it. At the bound it waits bridge.queue_wait,
// then returns ErrBusy: an HTTP sender is better told to retry than kept
// waiting. Any other error means the start could not be made durable, and
// the caller must not acknowledge the event.
func (in *Intake) Ingest(ctx context.Context, o s3event.Object, check Check) (Plan, error) {
	return in.ingest(ctx, o, check, in.Config.Bridge.QueueWait)
}

// IngestWhenFree is Ingest for callers that keep their object safe while
// they wait (an SQS message kept hidden, a listing): at the bound it waits
// for as long as ctx lasts, never ErrBusy.
func (in *Intake) IngestWhenFree(ctx context.Context, o s3event.Object, check Check) (Plan, error) {
	return in.ingest(ctx, o, check, 0)
}

func (in *Intake) ingest(ctx context.Context, o s3event.Object, check Check, wait time.Duration) (Plan, error) {
	p, err := in.Plan(ctx, o, check)
	if err != nil {
		in.Metrics.Intake(ctx, o.Via, "failed", "")
		return p, err
	}
	return p, in.act(ctx, p, wait)
}

func (in *Intake) act(ctx context.Context, p Plan, wait time.Duration) error {
	switch p.Decision {
	case Ignore:
		in.Metrics.Intake(ctx, p.Object.Via, "ignored", p.ReasonClass)
		return nil
	case Known:
		in.Metrics.Intake(ctx, p.Object.Via, "known", "")
		return nil
	}
	return in.start(ctx, p, wait)
}

// route is the pure part of Plan: no service is asked.
func (in *Intake) route(o s3event.Object) Plan {
	p := Plan{Object: o}
	ignore := func(class, reason string, expected bool) Plan {
		p.Decision, p.ReasonClass, p.Reason, p.Expected = Ignore, class, reason, expected
		return p
	}
	if !o.Created() {
		return ignore("not_created", "event "+o.EventName+" does not create an object", true)
	}
	cfg := in.Config
	if o.Bucket != cfg.Landing.Bucket {
		return ignore("other_bucket", fmt.Sprintf("bucket %s is not the landing bucket %s", o.Bucket, cfg.Landing.Bucket), false)
	}
	up, err := landing.Router{
		Partners:          cfg.HasPartner,
		TemporarySuffixes: cfg.Landing.TemporarySuffixes,
		Sidecars:          func(p string) bool { return cfg.Partners[p].Rules.Sidecar.Required },
	}.Route(o.Key, o.Size)
	var ign *landing.Ignored
	if errors.As(err, &ign) {
		return ignore(ign.Class, ign.Reason, ign.Expected)
	}
	partner := cfg.Partners[up.Partner]
	version := fileid.VersionOrETag(o.VersionID, o.ETag)
	id := fileid.WorkflowID(up.Partner, o.Bucket, o.Key, version)
	p.Decision, p.Partner, p.Path, p.WorkflowID = Start, up.Partner, up.Path, id
	p.Input = &ingest.Input{
		FileID: id, Partner: up.Partner, Bucket: o.Bucket, Key: o.Key, VersionID: o.VersionID, ETag: o.ETag,
		Size: o.Size, EventName: o.EventName, EventTime: o.EventTime, Source: o.Via, Rules: partner.Rules,
		DestBucket: partner.Destination.Bucket, DestKey: partner.Destination.Prefix + up.Path,
		Governance:       partner.Governance,
		QuarantineBucket: cfg.Quarantine.Bucket, QuarantineKey: up.Partner + "/" + up.Path,
		RejectedKey: "rejected/" + up.Partner + "/" + up.Path,
		Approval:    partner.Approval, Uploader: o.Principal,
		Copy: ingest.CopyOptions{
			MultipartThresholdBytes: cfg.Delivery.MultipartThresholdBytes,
			PartSizeBytes:           cfg.Delivery.PartSizeBytes,
			Concurrency:             cfg.Delivery.CopyConcurrency,
		},
		SmallFileMaxBytes: cfg.Delivery.SmallFileMaxBytes,
		Provenance:        provenance(o),
	}
	if partner.Decrypt == config.DecryptPGP {
		maxPlain, maxExp := partner.PGP.Limits(partner.Rules)
		p.Input.Decrypt = &ingest.Decryption{
			Required: partner.PGP.Required, RequireSignature: partner.PGP.RequireSignature,
			MaxPlaintextBytes: maxPlain, MaxExpansion: maxExp,
			// One place per object version: two versions of a key are
			// decrypted side by side without meeting.
			PlaintextBucket: cfg.Quarantine.Bucket, PlaintextKey: "plaintext/" + up.Partner + "/" + version + "/" + up.Path,
		}
	}
	if b := partner.Batch; b != nil {
		if folder, name, ok := batch.Folder(up.Partner, o.Key); ok {
			set := batch.Settings{ManifestPatterns: b.Manifest, Timeout: b.Timeout}
			p.Input.Batch = &batch.Membership{
				WorkflowID: batch.WorkflowID(up.Partner, o.Bucket, folder), Folder: folder, Name: name,
				Manifest: set.IsManifest(name), Settings: set,
			}
		}
	}
	p.Options = client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: cfg.Temporal.TaskQueue,
		// One execution per object version, ever: a running duplicate joins
		// the running workflow, a finished one is refused.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			ingest.PartnerAttr.ValueSet(up.Partner),
			ingest.ObjectKeyAttr.ValueSet(o.Key),
			ingest.FileStatusAttr.ValueSet(string(filestatus.Received)),
		),
		StaticSummary: fmt.Sprintf("%s: %s", up.Partner, up.Path),
		StaticDetails: fmt.Sprintf("s3://%s/%s\n\nversion `%s` · %d bytes · %s", o.Bucket, o.Key, version, o.Size, o.EventName),
	}
	return p
}

// provenance is who wrote the object and from where, as its event says.
// A listing (reconciler, backfill: landing.Version.Object) has no event:
// the note says so rather than passing the listing's stand-ins (its
// principal names the lister, its time is the object's LastModified) off
// as the writer's.
func provenance(o s3event.Object) *ingest.Provenance {
	switch o.Via {
	case "reconcile":
		return &ingest.Provenance{Note: "started by the reconciler, no event"}
	case "backfill":
		return &ingest.Provenance{Note: "started by " + o.Principal + ", no event"}
	}
	return &ingest.Provenance{Principal: o.Principal, SourceIP: o.SourceIP, RequestID: o.RequestID, EventTime: o.EventTime}
}

// logger carries the file's identity on every line about it.
func (in *Intake) logger(p Plan) *slog.Logger {
	log := in.Log
	if log == nil {
		log = slog.Default()
	}
	o := p.Object
	log = log.With("event", o.EventName, "via", o.Via, "bucket", o.Bucket, "key", o.Key, "version_id", o.VersionID)
	if p.WorkflowID != "" {
		log = log.With("partner", p.Partner, "workflow_id", p.WorkflowID)
	}
	return log
}
