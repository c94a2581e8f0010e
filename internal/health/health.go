// Package health serves a process's liveness and readiness, beside its
// metrics on one operational port, for Kubernetes probes (and anyone with
// curl):
//
//   - LivePath (/healthz) answers 200 while the process serves at all. It
//     never depends on Temporal or AWS: a Temporal outage must not make
//     the kubelet restart every pod, which would only add a restart storm
//     to the outage.
//   - ReadyPath (/readyz) answers 200 when every check passes (Temporal
//     answers, the process's AWS resources answer), and 503 naming each
//     failing check and its error otherwise: before the checks are set
//     (starting), and from the moment the process begins shutting down.
//
// Results are cached for a few seconds and each check has its own
// timeout, so probes from several sources cost AWS a call per check per
// TTL at most, and a hung dependency cannot hang the probe.
package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The paths served; the Helm chart's probes use them (deploy/helm's test
// reads the rendered probes against these constants).
const (
	LivePath  = "/healthz"
	ReadyPath = "/readyz"
)

// Defaults for Checker's TTL and Timeout: a kubelet probes every 10 s by
// default and gives up after 1 s unless told otherwise (the chart gives
// readiness 5 s), so a check must end well within that.
const (
	DefaultTTL     = 5 * time.Second
	DefaultTimeout = 3 * time.Second
)

// Check is one thing readiness depends on. Name says what it is and is
// shown with its result, e.g. "dynamodb table ferry-files".
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Result is a check's outcome; Err is nil when it passed.
type Result struct {
	Name string
	Err  error
}

// Checker answers LivePath and ReadyPath. The zero value is not ready
// ("starting") until Start; New sets the defaults.
type Checker struct {
	// TTL is how long results are reused; Timeout bounds each check.
	TTL, Timeout time.Duration
	// Log gets a line when a check starts or stops failing (not on every
	// probe).
	Log *slog.Logger

	now func() time.Time // for tests

	mu       sync.Mutex // held while checks run, so concurrent probes share one run
	checks   []Check
	started  bool
	draining bool
	at       time.Time // when results were taken
	results  []Result
	failing  map[string]bool // checks that failed last time, for logging changes
}

// New returns a Checker with the default TTL and timeout that is not
// ready until Start.
func New(log *slog.Logger) *Checker {
	return &Checker{TTL: DefaultTTL, Timeout: DefaultTimeout, Log: log}
}

// Start makes readiness depend on checks from now on. A process calls it
// once it has the clients the checks use.
func (c *Checker) Start(checks ...Check) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks, c.started, c.results, c.at = checks, true, nil, time.Time{}
}

// Drain makes the process not ready for good, at once: called first
// thing on SIGTERM, so load balancers and the Service stop sending work
// while the process finishes what it has.
func (c *Checker) Drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
}

// Ready runs the checks (or reuses results younger than TTL) and returns
// every result and whether all passed. Before Start and after Drain it
// returns a single failing result saying so.
func (c *Checker) Ready(ctx context.Context) ([]Result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.draining:
		return []Result{{Name: "shutdown", Err: errors.New("the process is shutting down")}}, false
	case !c.started:
		return []Result{{Name: "startup", Err: errors.New("the process is still starting (connecting to Temporal and AWS)")}}, false
	}
	now := c.clock()
	if c.results == nil || now.Sub(c.at) >= c.ttl() {
		c.results, c.at = c.run(ctx), now
		c.logChanges()
	}
	ok := true
	for _, r := range c.results {
		ok = ok && r.Err == nil
	}
	return c.results, ok
}

// run runs every check at once, each bounded by Timeout. A probe that
// hangs up does not cancel them: their results are shared and cached, and
// must not say "canceled" to the next probe.
func (c *Checker) run(ctx context.Context) []Result {
	ctx = context.WithoutCancel(ctx)
	results := make([]Result, len(c.checks))
	var wg sync.WaitGroup
	for i, ch := range c.checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, c.timeout())
			defer cancel()
			err := ch.Run(cctx)
			if err != nil && cctx.Err() != nil {
				err = fmt.Errorf("no answer within %s: %w", c.timeout(), err)
			}
			results[i] = Result{Name: ch.Name, Err: err}
		})
	}
	wg.Wait()
	return results
}

func (c *Checker) logChanges() {
	if c.Log == nil {
		return
	}
	was := c.failing
	c.failing = map[string]bool{}
	for _, r := range c.results {
		switch {
		case r.Err != nil:
			c.failing[r.Name] = true
			if !was[r.Name] {
				c.Log.Warn("readiness check failing", "check", r.Name, "error", r.Err)
			}
		case was[r.Name]:
			c.Log.Info("readiness check passing again", "check", r.Name)
		}
	}
}

func (c *Checker) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (c *Checker) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultTTL
}

func (c *Checker) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// Handler serves LivePath and ReadyPath (and nothing else: 404).
//
// The bodies are plain text in the style of the Kubernetes API server's
// own /readyz: one line per check, "[+]name ok" or "[-]name failed:
// error", then the verdict.
func (c *Checker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LivePath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		results, ok := c.Ready(r.Context())
		var b strings.Builder
		for _, res := range results {
			if res.Err == nil {
				fmt.Fprintf(&b, "[+]%s ok\n", res.Name)
			} else {
				fmt.Fprintf(&b, "[-]%s failed: %s\n", res.Name, oneLine(res.Err.Error()))
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			b.WriteString("not ready\n")
		} else {
			b.WriteString("ready\n")
		}
		_, _ = io.WriteString(w, b.String())
	})
	return mux
}

// oneLine keeps one check on one line of the body (SDK errors may hold
// newlines).
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
