package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/api/workflowservice/v1"
)

// Backlog reports the quarantine backlog from the source of truth, not
// from counters kept in memory, so a restarted worker reports it right:
// how many files wait (Count) and since when the oldest waits (Oldest).
// Both must read one source — Temporal visibility's running quarantined
// executions (NewVisibilityBacklog) — or they disagree: a file record
// stays quarantined in the files table when its workflow was terminated,
// and an oldest wait read there would page about a file nobody can decide.
//
// Run reads them every TTL in the background and a scrape reports the
// last answers: scrapes from several Prometheus servers do not multiply
// the queries, and no query runs inside the metrics SDK's collection (a
// Temporal call there would record the SDK's own request metrics and
// deadlock on the SDK's collection lock).
type Backlog struct {
	Partners []string
	// Count returns how many of partner's files wait for a decision.
	Count func(ctx context.Context, partner string) (int64, error)
	// Oldest returns when partner's longest-waiting file started waiting,
	// or the zero time when none waits. It is not asked when Count says
	// none waits, so the two never disagree about an empty backlog.
	Oldest func(ctx context.Context, partner string) (time.Time, error)
	// Deadlines are partners' approval deadlines (config, not read by
	// Refresh), reported as QuarantineDeadline for the partners listed.
	Deadlines map[string]Deadline
	// TTL is how often Run reads them; a scrape interval is a good choice.
	TTL time.Duration
	Log *slog.Logger
	Now func() time.Time

	mu sync.Mutex
	// counts and oldest hold the last answers per partner; a partner whose
	// source could not be read is absent.
	counts map[string]int64
	oldest map[string]time.Time
}

// VisibilityQuery is the visibility query of partner's running,
// quarantined executions.
func VisibilityQuery(partner string) string {
	return fmt.Sprintf("Partner = '%s' AND FileStatus = 'quarantined' AND ExecutionStatus = 'Running'", partner)
}

// Visibility is what the backlog reads of a Temporal client.
type Visibility interface {
	CountWorkflow(ctx context.Context, request *workflowservice.CountWorkflowExecutionsRequest) (*workflowservice.CountWorkflowExecutionsResponse, error)
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
}

// NewVisibilityBacklog is the backlog of partners' files as Temporal
// visibility sees them (VisibilityQuery): the count from CountWorkflow,
// the oldest wait from the earliest start time of the executions
// ListWorkflow lists. Visibility keeps no time of entering quarantine, so
// a wait counts from the file's workflow start: it includes the
// inspection (and, for a partner that requires one, the wait for the
// checksum sidecar) that came before the quarantine, and so slightly
// overstates the time since the file was quarantined, which is when the
// partner's approval deadline starts.
func NewVisibilityBacklog(v Visibility, partners []string, ttl time.Duration, log *slog.Logger) *Backlog {
	return &Backlog{
		Partners: partners, TTL: ttl, Log: log,
		Count: func(ctx context.Context, partner string) (int64, error) {
			q := VisibilityQuery(partner)
			resp, err := v.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: q})
			if err != nil {
				return 0, fmt.Errorf("counting workflows %q: %w", q, err)
			}
			return resp.GetCount(), nil
		},
		Oldest: func(ctx context.Context, partner string) (time.Time, error) {
			return earliestStart(ctx, v, VisibilityQuery(partner))
		},
	}
}

// listPageSize is the page size asked of ListWorkflow: the server's
// default limit, so a large backlog takes as few calls as it allows.
const listPageSize = 1000

// earliestStart pages through every execution query matches and returns
// the earliest start time, or the zero time when none matches. It reads
// them all rather than trust an order: SQL and Elasticsearch visibility
// sort differently, and neither sorts running executions oldest first.
func earliestStart(ctx context.Context, v Visibility, query string) (time.Time, error) {
	req := &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: listPageSize}
	var earliest time.Time
	for {
		resp, err := v.ListWorkflow(ctx, req)
		if err != nil {
			return time.Time{}, fmt.Errorf("listing workflows %q: %w", query, err)
		}
		for _, e := range resp.GetExecutions() {
			if e.GetStartTime() == nil {
				continue
			}
			if t := e.GetStartTime().AsTime(); earliest.IsZero() || t.Before(earliest) {
				earliest = t
			}
		}
		if len(resp.GetNextPageToken()) == 0 {
			return earliest, nil
		}
		req.NextPageToken = resp.GetNextPageToken()
	}
}

// Deadline is a partner's approval deadline: After how long a file waits
// the Action (approval.OnDeadlineReject or ...Escalate) applies. Alert
// rules tell them apart: after an escalation a file rightly waits on.
type Deadline struct {
	After  time.Duration
	Action string
}

// DeadlineActions are the action label's values of QuarantineDeadline.
var DeadlineActions = []string{"reject", "escalate"}

// Register adds the backlog gauges to meter.
func (b *Backlog) Register(meter metric.Meter) error {
	count, err := meter.Int64ObservableGauge(QuarantineBacklog, metric.WithDescription("Files waiting in quarantine for a decision."))
	if err != nil {
		return err
	}
	age, err := meter.Float64ObservableGauge(QuarantineOldestAge, metric.WithUnit("s"), metric.WithDescription("How long the oldest file waiting in quarantine has waited, counted from its workflow's start."))
	if err != nil {
		return err
	}
	deadline, err := meter.Float64ObservableGauge(QuarantineDeadline, metric.WithUnit("s"), metric.WithDescription("The partner's approval deadline for a quarantined file, from the config."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for p, d := range b.Deadlines {
			o.ObserveFloat64(deadline, d.After.Seconds(), metric.WithAttributes(
				attribute.String(LabelPartner, p), attribute.String(LabelAction, Class(d.Action, DeadlineActions...))))
		}
		counts, oldest, now := b.last()
		for _, p := range b.Partners {
			attrs := metric.WithAttributes(attribute.String(LabelPartner, p))
			if n, ok := counts[p]; ok {
				o.ObserveInt64(count, n, attrs)
			}
			if t, ok := oldest[p]; ok {
				secs := 0.0
				if !t.IsZero() {
					secs = max(now.Sub(t).Seconds(), 0)
				}
				o.ObserveFloat64(age, secs, attrs)
			}
		}
		return nil
	}, count, age, deadline)
	return err
}

// Run refreshes the answers every TTL until ctx ends.
func (b *Backlog) Run(ctx context.Context) {
	t := time.NewTicker(b.TTL)
	defer t.Stop()
	for {
		b.Refresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (b *Backlog) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// last returns the answers of the last Refresh.
func (b *Backlog) last() (map[string]int64, map[string]time.Time, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts, b.oldest, b.now()
}

// Refresh reads the backlog from its sources. A source that cannot be read
// leaves its series out of the scrape (absent, not a wrong zero) and is
// logged.
func (b *Backlog) Refresh(ctx context.Context) {
	log := b.Log
	if log == nil {
		log = slog.Default()
	}
	counts, oldest := map[string]int64{}, map[string]time.Time{}
	for _, p := range b.Partners {
		b.refreshPartner(ctx, log, p, counts, oldest)
	}
	b.mu.Lock()
	b.counts, b.oldest = counts, oldest
	b.mu.Unlock()
}

// refreshPartner reads one partner's answers into counts and oldest, with
// a timeout of its own so one slow partner does not blank the others.
func (b *Backlog) refreshPartner(ctx context.Context, log *slog.Logger, p string, counts map[string]int64, oldest map[string]time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	n, err := b.Count(ctx, p)
	if err != nil {
		log.Warn("metrics: counting the quarantine backlog failed", "partner", p, "error", err)
	} else {
		counts[p] = n
		if n == 0 {
			oldest[p] = time.Time{} // none waits: no list to read
			return
		}
	}
	t, err := b.Oldest(ctx, p)
	if err != nil {
		log.Warn("metrics: reading the oldest quarantined file failed", "partner", p, "error", err)
		return
	}
	oldest[p] = t
}
