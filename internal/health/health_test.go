package health

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// get asks h for path and returns the status and body.
func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// counted is a check that fails with err (nil: passes) and counts its runs.
func counted(name string, err *error, runs *atomic.Int32) Check {
	return Check{Name: name, Run: func(context.Context) error { runs.Add(1); return *err }}
}

func TestReadyNamesEachCheckAndEveryFailure(t *testing.T) {
	c := New(nil)
	var runs atomic.Int32
	var tableErr error
	ok := error(nil)
	c.Start(counted("temporal 127.0.0.1:7233", &ok, &runs), counted("dynamodb table ferry-files", &tableErr, &runs))

	code, body := get(t, c.Handler(), ReadyPath)
	if code != http.StatusOK || body != "[+]temporal 127.0.0.1:7233 ok\n[+]dynamodb table ferry-files ok\nready\n" {
		t.Errorf("all passing: %d %q", code, body)
	}

	tableErr = errors.New("ResourceNotFoundException: Requested resource not found\n(table ferry-files)")
	c.Start(c.checks...) // forget the cached results
	code, body = get(t, c.Handler(), ReadyPath)
	want := "[+]temporal 127.0.0.1:7233 ok\n[-]dynamodb table ferry-files failed: ResourceNotFoundException: Requested resource not found (table ferry-files)\nnot ready\n"
	if code != http.StatusServiceUnavailable || body != want {
		t.Errorf("one failing: %d %q, want 503 %q", code, body, want)
	}
	// Liveness never depends on the checks.
	if code, body := get(t, c.Handler(), LivePath); code != http.StatusOK || body != "ok\n" {
		t.Errorf("%s while a check fails: %d %q, want 200", LivePath, code, body)
	}
}

func TestResultsAreReusedForTheTTL(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(nil)
	c.now = func() time.Time { return now }
	var runs atomic.Int32
	var err error
	c.Start(counted("s3 bucket landing", &err, &runs))

	for range 5 {
		get(t, c.Handler(), ReadyPath)
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("5 probes within the TTL ran the check %d times, want 1", n)
	}
	err = errors.New("AccessDenied")
	now = now.Add(DefaultTTL - time.Millisecond)
	if code, _ := get(t, c.Handler(), ReadyPath); code != http.StatusOK || runs.Load() != 1 {
		t.Errorf("just inside the TTL: %d after %d runs, want the cached 200 after 1", code, runs.Load())
	}
	now = now.Add(time.Millisecond)
	if code, body := get(t, c.Handler(), ReadyPath); code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]s3 bucket landing failed: AccessDenied") || runs.Load() != 2 {
		t.Errorf("at the TTL: %d %q after %d runs, want a fresh 503 after 2", code, body, runs.Load())
	}
}

func TestACheckThatHangsIsCutAtItsTimeout(t *testing.T) {
	c := New(nil)
	c.Timeout = 50 * time.Millisecond
	c.Start(
		Check{Name: "sqs queue ferry-events", Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		Check{Name: "temporal t:7233", Run: func(context.Context) error { return nil }},
	)
	code, body := get(t, c.Handler(), ReadyPath)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]sqs queue ferry-events failed: no answer within 50ms: context deadline exceeded") ||
		!strings.Contains(body, "[+]temporal t:7233 ok") {
		t.Errorf("got %d %q", code, body)
	}
}

// A probe that hangs up must not leave "canceled" in the cached results
// the next probe gets.
func TestACancelledProbeDoesNotCancelTheChecks(t *testing.T) {
	c := New(nil)
	c.Start(Check{Name: "temporal t:7233", Run: func(ctx context.Context) error { return ctx.Err() }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := c.Ready(ctx); !ok {
		t.Error("a check saw the probe's cancellation")
	}
}

func TestNotReadyWhileStartingAndFromShutdownOn(t *testing.T) {
	c := New(nil)
	if code, body := get(t, c.Handler(), ReadyPath); code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]startup failed: the process is still starting") {
		t.Errorf("before Start: %d %q", code, body)
	}
	var runs atomic.Int32
	var err error
	c.Start(counted("temporal t:7233", &err, &runs))
	if code, _ := get(t, c.Handler(), ReadyPath); code != http.StatusOK {
		t.Errorf("after Start: %d, want 200", code)
	}
	c.Drain()
	code, body := get(t, c.Handler(), ReadyPath)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[-]shutdown failed: the process is shutting down") {
		t.Errorf("after Drain: %d %q", code, body)
	}
	if code, _ := get(t, c.Handler(), LivePath); code != http.StatusOK {
		t.Errorf("%s after Drain: %d, want 200 (the process still finishes its work)", LivePath, code)
	}
}

func TestOnlyTheTwoPathsAreServed(t *testing.T) {
	c := New(nil)
	if code, _ := get(t, c.Handler(), "/ready"); code != http.StatusNotFound {
		t.Errorf("/ready: %d, want 404", code)
	}
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ReadyPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %d, want 405", ReadyPath, rec.Code)
	}
}
