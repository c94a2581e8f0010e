package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Backlog reports the quarantine backlog from the sources of truth, not
// from counters kept in memory, so a restarted worker reports it right:
// how many files wait (Count, e.g. Temporal visibility's CountWorkflow of
// running quarantined executions) and since when the oldest waits (Oldest,
// e.g. the files table's by-status index). Run reads them every TTL in the
// background and a scrape reports the last answers: scrapes from several
// Prometheus servers do not multiply the queries, and no query runs inside
// the metrics SDK's collection (a Temporal call there would record the
// SDK's own request metrics and deadlock on the SDK's collection lock).
type Backlog struct {
	Partners []string
	// Count returns how many of partner's files wait for a decision.
	Count func(ctx context.Context, partner string) (int64, error)
	// Oldest returns, per partner, when its longest-waiting file started
	// waiting.
	Oldest func(ctx context.Context) (map[string]time.Time, error)
	// TTL is how often Run reads them; a scrape interval is a good choice.
	TTL time.Duration
	Log *slog.Logger
	Now func() time.Time

	mu     sync.Mutex
	counts map[string]int64
	oldest map[string]time.Time
}

// VisibilityQuery is the visibility query of partner's running,
// quarantined executions.
func VisibilityQuery(partner string) string {
	return fmt.Sprintf("Partner = '%s' AND FileStatus = 'quarantined' AND ExecutionStatus = 'Running'", partner)
}

// Register adds the backlog gauges to meter.
func (b *Backlog) Register(meter metric.Meter) error {
	count, err := meter.Int64ObservableGauge(QuarantineBacklog, metric.WithDescription("Files waiting in quarantine for a decision."))
	if err != nil {
		return err
	}
	age, err := meter.Float64ObservableGauge(QuarantineOldestAge, metric.WithUnit("s"), metric.WithDescription("How long the oldest file waiting in quarantine has waited."))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		counts, oldest, now := b.last()
		for _, p := range b.Partners {
			attrs := metric.WithAttributes(attribute.String(LabelPartner, p))
			if n, ok := counts[p]; ok {
				o.ObserveInt64(count, n, attrs)
			}
			if oldest == nil {
				continue
			}
			secs := 0.0
			if t, ok := oldest[p]; ok {
				secs = max(now.Sub(t).Seconds(), 0)
			}
			o.ObserveFloat64(age, secs, attrs)
		}
		return nil
	}, count, age)
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
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	counts := map[string]int64{}
	for _, p := range b.Partners {
		n, err := b.Count(ctx, p)
		if err != nil {
			log.Warn("metrics: counting the quarantine backlog failed", "partner", p, "error", err)
			continue
		}
		counts[p] = n
	}
	oldest, err := b.Oldest(ctx)
	if err != nil {
		log.Warn("metrics: reading the oldest quarantined file failed", "error", err)
	}
	b.mu.Lock()
	b.counts, b.oldest = counts, oldest
	b.mu.Unlock()
}
