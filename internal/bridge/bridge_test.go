//go:build integration

package bridge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/hmacsig"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/stacktest"
)

const token = "test-token"

// newBridge serves a bridge on the real Temporal server, starting workflows
// on a task queue no worker polls, so they stay put for inspection.
func newBridge(t *testing.T, tc client.Client) (*httptest.Server, *config.Config) {
	t.Helper()
	st := stacktest.Require(t, stacktest.Temporal)
	cfg := *st.Config
	cfg.Temporal.TaskQueue = stacktest.Unique("bridge-test-")
	cfg.Bridge.AuthToken = token
	cfg.Bridge.MaxBodyBytes = 64 << 10
	if tc == nil {
		tc = st.Temporal
	}
	b := &bridge.Bridge{Intake: &intake.Intake{Temporal: tc, Config: &cfg, Log: slog.New(slog.DiscardHandler)}, Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	return srv, &cfg
}

// uploadEvent is the body MinIO posted after an SFTP upload, re-keyed to a
// fresh version so each test run has its own object version.
func uploadEvent(t testing.TB) (body, version string) {
	t.Helper()
	b, err := os.ReadFile("testdata/minio-sftp-put.json")
	if err != nil {
		t.Fatal(err)
	}
	version = stacktest.Unique("v-")
	return strings.Replace(string(b), "2e5dd852-7db6-46c5-829a-5922026f8827", version, 1), version
}

func post(t *testing.T, url, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+bridge.EventsPath, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(msg)
}

func terminate(t *testing.T, tc client.Client, id string) {
	t.Cleanup(func() { _ = tc.TerminateWorkflow(context.Background(), id, "", "bridge test cleanup") })
}

func TestDuplicateEventsStartOneWorkflow(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	srv, cfg := newBridge(t, nil)
	body, version := uploadEvent(t)
	id := fileid.WorkflowID("acme", "landing", "acme/inbound/Résumé 2026+final.csv", version)
	terminate(t, st.Temporal, id)

	// The same event three times at once, as an at-least-once sender may.
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i], _ = post(t, srv.URL, "Bearer "+token, body) }()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusNoContent {
			t.Fatalf("delivery %d answered %d, want 204", i, c)
		}
	}
	// And once more later, after the first start is long durable.
	if c, msg := post(t, srv.URL, "Bearer "+token, body); c != http.StatusNoContent {
		t.Fatalf("replayed event answered %d: %s", c, msg)
	}

	desc, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatalf("the workflow %s was not started: %v", id, err)
	}
	info := desc.WorkflowExecutionInfo
	if info.Type.Name != ingest.WorkflowName || info.TaskQueue != cfg.Temporal.TaskQueue {
		t.Errorf("started %s on %s", info.Type.Name, info.TaskQueue)
	}
	sa := info.SearchAttributes.GetIndexedFields()
	for attr, want := range map[string]string{"Partner": `"acme"`, "ObjectKey": `"acme/inbound/Résumé 2026+final.csv"`, "FileStatus": `"received"`} {
		if got := string(sa[attr].GetData()); got != want {
			t.Errorf("search attribute %s = %s, want %s", attr, got, want)
		}
	}
	// Visibility is eventually consistent: wait for the run to be listed.
	stacktest.Eventually(t, 10*time.Second, func() (bool, string) {
		n := st.Runs(t, id)
		return n > 0, fmt.Sprintf("%d runs of %s listed", n, id)
	})
	if n := st.Runs(t, id); n != 1 {
		t.Fatalf("%d runs of %s, want exactly 1", n, id)
	}
}

func TestIgnoredEventsAreAcknowledgedWithoutAWorkflow(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	srv, _ := newBridge(t, nil)
	marker, err := os.ReadFile("testdata/minio-sftp-mkdir.json")
	if err != nil {
		t.Fatal(err)
	}
	body, version := uploadEvent(t)
	tests := map[string]string{
		"folder marker":   string(marker),
		"unknown partner": strings.ReplaceAll(body, "acme%2Finbound", "umbrella%2Finbound"),
		"outside inbound": strings.ReplaceAll(body, "acme%2Finbound", "acme%2Foutbound"),
		"other bucket":    strings.ReplaceAll(body, `"name": "landing"`, `"name": "delivered"`),
		"delete event":    strings.ReplaceAll(body, "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:Delete"),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if c, msg := post(t, srv.URL, "Bearer "+token, b); c != http.StatusNoContent {
				t.Fatalf("answered %d (%s), want 204: an ignored event must not be redelivered forever", c, msg)
			}
		})
	}
	// None of them may have started a workflow under any ID it could map to.
	const name = "Résumé 2026+final.csv"
	for _, id := range []string{
		fileid.WorkflowID("umbrella", "landing", "umbrella/inbound/"+name, version),
		fileid.WorkflowID("acme", "landing", "acme/outbound/"+name, version),
		fileid.WorkflowID("acme", "delivered", "acme/inbound/"+name, version),
		fileid.WorkflowID("acme", "landing", "acme/inbound/"+name, version), // the delete event's object
	} {
		if _, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, ""); err == nil {
			t.Errorf("workflow %s was started for an ignored event", id)
		}
	}
}

func TestBadRequestsAreRefusedWithAReason(t *testing.T) {
	srv, _ := newBridge(t, nil)
	body, _ := uploadEvent(t)
	tests := []struct {
		name, auth, body string
		code             int
		want             string
	}{
		{"no token", "", body, http.StatusUnauthorized, "missing or wrong credentials"},
		{"wrong token", "Bearer nope", body, http.StatusUnauthorized, "missing or wrong credentials"},
		{"basic auth", "Basic dGVzdDp0ZXN0", body, http.StatusUnauthorized, "missing or wrong credentials"},
		{"not json", "Bearer " + token, "hello", http.StatusBadRequest, "not an S3 event notification"},
		{"no records", "Bearer " + token, `{"EventName":"s3:ObjectCreated:Put"}`, http.StatusBadRequest, `no "Records"`},
		{"bad key encoding", "Bearer " + token, strings.Replace(body, "R%C3%A9sum", "R%ZZsum", 1), http.StatusBadRequest, "Records[0]"},
		{"too large", "Bearer " + token, `{"Records":[` + strings.Repeat(" ", 70<<10) + `]}`, http.StatusRequestEntityTooLarge, "body over 65536 bytes"},
		{"test event", "Bearer " + token, `{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"landing"}`, http.StatusNoContent, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := post(t, srv.URL, tt.auth, tt.body)
			if code != tt.code || !strings.Contains(msg, tt.want) {
				t.Fatalf("answered %d %q, want %d with %q", code, msg, tt.code, tt.want)
			}
		})
	}
	resp, err := http.Get(srv.URL + bridge.EventsPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d, want 405", resp.StatusCode)
	}
}

func TestTemporalUnreachableMeansRetryLater(t *testing.T) {
	// A lazy client dials on first use: the start fails like a Temporal outage.
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: nil})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	srv, _ := newBridge(t, down)
	body, _ := uploadEvent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+bridge.EventsPath, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// 503, not 2xx: the sender (MinIO's queue, SQS) keeps the event.
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("answered %d, want 503 so the sender retries", resp.StatusCode)
	}
}

// An SFTP client that uploads under a temporary name and renames at the
// end (WinSCP's .filepart) produces a Put of the temporary name, ignored,
// then a Copy to the final name (how S3 SFTP servers rename), ingested.
func TestTemporaryUploadNameIgnoredAndRenameIngested(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	srv, _ := newBridge(t, nil)
	body, version := uploadEvent(t)
	partial := strings.ReplaceAll(body, "final.csv", "final.csv.filepart")
	if c, msg := post(t, srv.URL, "Bearer "+token, partial); c != http.StatusNoContent {
		t.Fatalf("temporary upload answered %d: %s", c, msg)
	}
	const name = "acme/inbound/Résumé 2026+final.csv"
	if _, err := st.Temporal.DescribeWorkflowExecution(context.Background(), fileid.WorkflowID("acme", "landing", name+".filepart", version), ""); err == nil {
		t.Fatal("a workflow was started for the temporary upload name")
	}
	renamed := strings.ReplaceAll(body, "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectCreated:Copy")
	if c, msg := post(t, srv.URL, "Bearer "+token, renamed); c != http.StatusNoContent {
		t.Fatalf("rename answered %d: %s", c, msg)
	}
	id := fileid.WorkflowID("acme", "landing", name, version)
	terminate(t, st.Temporal, id)
	if _, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, ""); err != nil {
		t.Fatalf("the renamed file was not ingested: %v", err)
	}
}

func TestHMACSignedEventsAreAccepted(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	cfg := *st.Config
	cfg.Temporal.TaskQueue = stacktest.Unique("bridge-test-")
	cfg.Bridge.AuthToken, cfg.Bridge.HMACSecret = "", "s3cret"
	srv := httptest.NewServer((&bridge.Bridge{Intake: &intake.Intake{Temporal: st.Temporal, Config: &cfg, Log: slog.New(slog.DiscardHandler)}, Log: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	body, version := uploadEvent(t)
	sign := func(secret, b string) string { return hmacsig.Sign([]byte(secret), []byte(b)) }
	send := func(sig, b string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+bridge.EventsPath, strings.NewReader(b))
		req.Header.Set(hmacsig.Header, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := send(sign("wrong", body), body); c != http.StatusUnauthorized {
		t.Fatalf("a wrong signature answered %d", c)
	}
	if c := send(sign("s3cret", body), strings.Replace(body, "acme", "globex", 1)); c != http.StatusUnauthorized {
		t.Fatalf("a signature over another body answered %d", c)
	}
	if c := send(sign("s3cret", body), body); c != http.StatusNoContent {
		t.Fatalf("a signed event answered %d", c)
	}
	id := fileid.WorkflowID("acme", "landing", "acme/inbound/Résumé 2026+final.csv", version)
	terminate(t, st.Temporal, id)
	if _, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, ""); err != nil {
		t.Fatalf("the signed event started nothing: %v", err)
	}
}

// heldStarter stands in for a slow or overloaded Temporal, which the
// real server cannot be made to be: each start waits hold (zero: until
// release is closed, or its context ends), then succeeds. called is closed
// at the first call; n counts the starts made.
type heldStarter struct {
	hold    time.Duration
	release chan struct{}
	called  chan struct{}
	first   sync.Once
	n       atomic.Int32
}

func newHeldStarter(hold time.Duration) *heldStarter {
	return &heldStarter{hold: hold, release: make(chan struct{}), called: make(chan struct{})}
}

func (h *heldStarter) ExecuteWorkflow(ctx context.Context, o client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	h.first.Do(func() { close(h.called) })
	var timeout <-chan time.Time
	if h.hold > 0 {
		timeout = time.After(h.hold)
	}
	select {
	case <-timeout:
	case <-h.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	h.n.Add(1)
	return fakeRun{id: o.ID}, nil
}

// waitCalled waits for the first start.
func (h *heldStarter) waitCalled(t *testing.T) {
	t.Helper()
	select {
	case <-h.called:
	case <-time.After(30 * time.Second):
		t.Fatal("no start was asked for within 30s")
	}
}

type fakeRun struct{ id string }

func (r fakeRun) GetID() string                                                           { return r.id }
func (r fakeRun) GetRunID() string                                                        { return "run" }
func (r fakeRun) GetFirstExecutionRunID() string                                          { return "run" }
func (r fakeRun) Get(context.Context, any) error                                          { return nil }
func (r fakeRun) GetWithOptions(context.Context, any, client.WorkflowRunGetOptions) error { return nil }

func TestBackPressureTellsSendersToRetry(t *testing.T) {
	st := stacktest.Require(t)
	cfg := *st.Config
	cfg.Bridge.AuthToken = token
	cfg.Bridge.MaxConcurrentStarts, cfg.Bridge.QueueWait = 1, 200*time.Millisecond
	slow := newHeldStarter(0)
	srv := httptest.NewServer((&bridge.Bridge{Intake: &intake.Intake{Temporal: slow, Config: &cfg, Log: slog.New(slog.DiscardHandler)}, Log: slog.New(slog.DiscardHandler)}).Handler())
	t.Cleanup(srv.Close)
	first, _ := uploadEvent(t)
	second, _ := uploadEvent(t)

	done := make(chan int, 1)
	go func() { c, _ := post(t, srv.URL, "Bearer "+token, first); done <- c }()
	slow.waitCalled(t) // the only slot is taken
	req, _ := http.NewRequest(http.MethodPost, srv.URL+bridge.EventsPath, strings.NewReader(second))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("an event over the limit answered %d (Retry-After %q), want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(slow.release)
	if c := <-done; c != http.StatusNoContent {
		t.Fatalf("the event holding the slot answered %d", c)
	}
}
