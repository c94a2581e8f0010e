//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// Grafana cannot be installed here, so the dashboard is proven the way
// Grafana would run it: after real traffic of every kind the dashboard
// shows, each panel's queries, with the template variables and
// $__rate_interval expanded as Grafana expands them, run against the
// stack's real Prometheus (which scrapes the running worker and bridge),
// and every one must return data.
func TestEveryDashboardPanelShowsDataAfterRealTraffic(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	dash := loadDashboard(t)
	prom := &promAPI{base: st.Env["FERRY_PROMETHEUS_URL"]}
	start := time.Now()

	dashboardTraffic(t, st, prom)

	// Grafana's $__rate_interval: max($__interval + scrape interval, 4 x
	// scrape interval), with the data source's scrape interval set to
	// Prometheus's (5s on the local stack, deploy/prometheus/prometheus.yml)
	// and $__interval the step of a range query over these few minutes.
	const step = 5 * time.Second
	rateInterval := (4 * step).String()
	var partners []string
	stacktest.Eventually(t, 3*time.Minute, func() (bool, string) {
		end := time.Now()
		vars := map[string]string{
			"__rate_interval": rateInterval,
			"__interval":      step.String(),
			"__range":         strconv.Itoa(int(end.Sub(start.Add(-30*time.Second)).Seconds())) + "s",
		}
		var err error
		if partners, err = prom.labelValues(dash.partnerQuery(t), start, end); err != nil {
			return false, "the partner variable's query: " + err.Error()
		}
		// "All", as the dashboard opens; the variable's allValue.
		vars["partner"] = dash.allValue(t, "partner")
		var missing []string
		for _, p := range dash.queryPanels() {
			for _, tg := range p.Targets {
				expr := expand(tg.Expr, vars)
				n, err := prom.finiteSamples(expr, tg.Instant, start.Add(-30*time.Second), end, step)
				switch {
				case err != nil:
					missing = append(missing, fmt.Sprintf("%q %s: %v (query %s)", p.Title, tg.RefID, err, expr))
				case n == 0:
					missing = append(missing, fmt.Sprintf("%q %s: no data (query %s)", p.Title, tg.RefID, expr))
				}
			}
		}
		return len(missing) == 0, fmt.Sprintf("%d queries without data:\n  %s", len(missing), strings.Join(missing, "\n  "))
	})
	for _, want := range []string{"acme", "globex", "initech"} {
		if !slices.Contains(partners, want) {
			t.Errorf("the partner variable offers %v, want %s among them", partners, want)
		}
	}
	// One partner selected: every query still runs (a partner may have no
	// data of a kind, so only errors count here).
	vars := map[string]string{"__rate_interval": rateInterval, "__interval": step.String(), "__range": "300s", "partner": "acme"}
	for _, p := range dash.queryPanels() {
		for _, tg := range p.Targets {
			if _, err := prom.finiteSamples(expand(tg.Expr, vars), tg.Instant, start, time.Now(), step); err != nil {
				t.Errorf("%q %s with partner acme: %v", p.Title, tg.RefID, err)
			}
		}
	}
}

// dashboardTraffic makes the traffic the dashboard shows: deliveries,
// quarantines with an approval, a refused decision and a rejection,
// reminders and an escalation, a failure, a refused event request, a lost
// event the reconciler finds, a dead-lettered message and a notification
// a topic refuses.
//
// The first delivery is waited for until Prometheus has scraped it: a
// series is born with its first observation, so rate() sees only what
// follows it (a known blind spot of counters exported from their first
// increment, README "Watching Ferry"); an operator's dashboard shows
// traffic that goes on, which the rest of this traffic is.
func dashboardTraffic(t *testing.T, st *stacktest.Stack, prom *promAPI) {
	ctx := context.Background()
	// putFile writes an object to landing; put gives its workflow ID.
	putFile := func(key, body string) smallFile {
		t.Helper()
		out, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(key), Body: strings.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		return smallFile{landedFile{partner: strings.SplitN(key, "/", 2)[0], key: key, version: aws.ToString(out.VersionId), size: int64(len(body))}, aws.ToString(out.ETag)}
	}
	put := func(key, body string) string { return putFile(key, body).id() }

	// A file whose event is lost, put first: the reconciler takes it for
	// lost only once it is older than reconcile.grace.
	silent := stacktest.Unique("acme/inbound/dash-lost-") + ".csv"
	v := putSilently(t, st, silent, "id,qty\n9,9\n")[0]
	silentAt := time.Now()
	lost := fileid.WorkflowID("acme", "landing", silent, aws.ToString(v.VersionId))

	// initech's deadline (10s) escalates while the rest goes on.
	waiting := put(stacktest.Unique("initech/inbound/dash-")+".csv", "MZ\x90\x00 not a csv")
	rejectWhenDone(t, st, waiting, "")

	firstFile := putFile(stacktest.Unique("acme/inbound/dash-")+".csv", "id,qty\n0,1\n")
	first := firstFile.id()
	waitStarted(t, st, first, time.Minute)
	if res := waitResult(t, st, first); res.Status != filestatus.Delivered {
		t.Fatalf("%s: result %+v, want delivered", first, res)
	}
	eventBurst(t, st, firstFile)
	stacktest.Eventually(t, time.Minute, func() (bool, string) {
		n, err := prom.finiteSamples(`ferry_file_e2e_latency_seconds_count{partner="acme"}`, true, time.Now(), time.Now(), time.Second)
		return err == nil && n > 0, fmt.Sprintf("Prometheus has not scraped the first delivery's latency yet (%v)", err)
	})
	delivered := []string{put(stacktest.Unique("acme/inbound/dash-")+".csv", "id,qty\n1,1\n")}

	approved, _ := quarantinedUpload(t, st, []byte("MZ\x90\x00 approve me"))
	signal(t, st, approved, "approve", "eve", "not an approver: refused")
	signal(t, st, approved, "approve", "alice", "expected")
	rejected, _ := quarantinedUpload(t, st, []byte("MZ\x90\x00 reject me"))
	signal(t, st, rejected, "reject", "bob", "sent by mistake")

	// An event for an object gone before Ferry read it: the file fails.
	ghost := stacktest.Unique("acme/inbound/dash-gone-") + ".csv"
	postEvent(t, st, st.Env["FERRY_BRIDGE_AUTH_TOKEN"], ghost, "00000000-0000-0000-0000-000000000001", http.StatusNoContent)
	// A partner's client makes a folder: the marker's event is ignored.
	if out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "mkdir "+stacktest.Unique("dash-folder-")); err != nil {
		t.Fatalf("sftp mkdir failed: %v\n%s", err, out)
	}
	// A sender with the wrong token is refused (401).
	postEvent(t, st, "not-the-token", ghost, "00000000-0000-0000-0000-000000000002", http.StatusUnauthorized)

	// A poison message on the queue is dead-lettered.
	sendSQS(t, st, st.Config.Bridge.SQS.Queue, stacktest.Unique(`{"Records":[{"eventName":"ObjectCreated:Put","note":"dashboard poison `)+`"}]}`)

	// The file whose event was lost, found by the reconciler once older
	// than reconcile.grace.
	triggerReconcile(t, st, silentAt)

	// A notification the SNS topic refuses (it was deleted).
	restore := withoutTopic(t, st)
	unsent, _ := quarantinedUpload(t, st, []byte("MZ\x90\x00 nobody hears of me by SNS"))
	rejectWhenDone(t, st, unsent, "")
	waitState(t, st, unsent, "the refused notification in the reasons", func(s ingest.FileState) bool {
		return strings.Contains(strings.Join(s.Reasons, " "), "notification file.quarantined failed")
	})
	restore()

	for _, id := range append(delivered, approved, lost) {
		waitStarted(t, st, id, time.Minute)
		if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
			t.Fatalf("%s: result %+v, want delivered", id, res)
		}
	}
	if res := waitResult(t, st, rejected); res.Status != filestatus.Rejected {
		t.Fatalf("%s: result %+v, want rejected", rejected, res)
	}
	// A failure with a cause fails the workflow too; the status says why.
	findWorkflow(t, st, fmt.Sprintf(`FileStatus="failed" AND ObjectKey=%q`, ghost))
	notification(t, st, waiting, "file.escalated")
}

// eventBurst posts the event of a delivered file many times at once, as
// a sender retrying in a hurry would: more than the bridge starts at
// once (bridge.max_concurrent_starts), so starts wait at its bound (the
// back-pressure panel); each is acknowledged, and none starts a second
// workflow.
func eventBurst(t *testing.T, st *stacktest.Stack, f smallFile) {
	t.Helper()
	body := s3Event(f.landedFile, f.etag)
	n := 4 * st.Config.Bridge.MaxConcurrentStarts
	errs := make(chan error, n)
	client := &http.Client{Timeout: time.Minute}
	for range n {
		go func() {
			_, _, err := postUntilAcknowledged(client, st, body)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// Every run of the ID, closed ones too: a second run would be a
	// second delivery.
	if got := st.Runs(t, f.id()); got != 1 {
		t.Fatalf("%d events of one file: %d runs of %s, want 1", n, got, f.id())
	}
}

// postEvent posts an S3 event for key to the bridge with token and wants
// the status code.
func postEvent(t *testing.T, st *stacktest.Stack, token, key, version string, want int) {
	t.Helper()
	body := fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","eventName":"ObjectCreated:Put","eventTime":%q,`+
		`"s3":{"bucket":{"name":"landing"},"object":{"key":%q,"size":10,"versionId":%q,"eTag":"0123456789abcdef0123456789abcdef"}}}]}`,
		time.Now().UTC().Format(time.RFC3339), url.QueryEscape(key), version)
	req, err := http.NewRequest(http.MethodPost, "http://"+st.Config.Bridge.Listen+"/v1/s3-events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("posting an event to the bridge: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("the bridge answered %d to an event, want %d: %s", resp.StatusCode, want, msg)
	}
}

// dashboard is what the test reads of a Grafana dashboard's JSON.
type dashboard struct {
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			AllValue   string          `json:"allValue"`
			IncludeAll bool            `json:"includeAll"`
		} `json:"list"`
	} `json:"templating"`
	Panels []dashPanel `json:"panels"`
}

type dashPanel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *dataSource `json:"datasource"`
	Targets    []struct {
		RefID      string      `json:"refId"`
		Expr       string      `json:"expr"`
		Instant    bool        `json:"instant"`
		Datasource *dataSource `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // a collapsed row's
}

type dataSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "ferry-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("deploy/grafana/ferry-dashboard.json: %v", err)
	}
	// Every panel and query takes the data source from the variable, so
	// the dashboard works with whichever Prometheus (or Amazon Managed
	// Service for Prometheus) the importer picks.
	for _, p := range d.queryPanels() {
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: data source %+v, want uid ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q query %s: data source %+v, want uid ${datasource}", p.Title, tg.RefID, tg.Datasource)
			}
		}
	}
	return &d
}

// queryPanels are the panels that show data (not rows), rows' included.
func (d *dashboard) queryPanels() []dashPanel {
	var out []dashPanel
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

func (d *dashboard) allValue(t *testing.T, name string) string {
	for _, v := range d.Templating.List {
		if v.Name == name {
			if !v.IncludeAll || v.AllValue == "" {
				t.Fatalf("variable %s: want includeAll with an allValue", name)
			}
			return v.AllValue
		}
	}
	t.Fatalf("the dashboard has no variable %s", name)
	return ""
}

// partnerQuery is the partner variable's label_values(selector, label).
func (d *dashboard) partnerQuery(t *testing.T) [2]string {
	for _, v := range d.Templating.List {
		if v.Name != "partner" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("variable partner's query: %v", err)
		}
		m := regexp.MustCompile(`^label_values\((.*),\s*(\w+)\)$`).FindStringSubmatch(q.Query)
		if m == nil {
			t.Fatalf("variable partner's query %q is not label_values(selector, label)", q.Query)
		}
		return [2]string{m[1], m[2]}
	}
	t.Fatal("the dashboard has no partner variable")
	return [2]string{}
}

// grafanaVar is a Grafana variable reference: $name or ${name}.
var grafanaVar = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// expand replaces Grafana's $name and ${name} variables.
func expand(expr string, vars map[string]string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		name := strings.Trim(m, "${}")
		if v, ok := vars[name]; ok {
			return v
		}
		return m
	})
}

// promAPI is Prometheus's HTTP API, as Grafana's data source calls it.
type promAPI struct{ base string }

func (p *promAPI) get(path string, params url.Values, into any) error {
	resp, err := http.Get(p.base + path + "?" + params.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s", env.Error)
	}
	return json.Unmarshal(env.Data, into)
}

func (p *promAPI) labelValues(sel [2]string, start, end time.Time) ([]string, error) {
	var out []string
	err := p.get("/api/v1/label/"+sel[1]+"/values", url.Values{"match[]": {sel[0]}, "start": {unix(start)}, "end": {unix(end)}}, &out)
	return out, err
}

// finiteSamples runs expr as Grafana would (an instant query at end, or a
// range query from start to end) and counts the samples that are numbers:
// a histogram_quantile over no observations is NaN, which a panel shows
// as nothing.
func (p *promAPI) finiteSamples(expr string, instant bool, start, end time.Time, step time.Duration) (int, error) {
	var data struct {
		Result []struct {
			Value  []any   `json:"value"`
			Values [][]any `json:"values"`
		} `json:"result"`
	}
	var err error
	if instant {
		err = p.get("/api/v1/query", url.Values{"query": {expr}, "time": {unix(end)}}, &data)
	} else {
		err = p.get("/api/v1/query_range", url.Values{"query": {expr}, "start": {unix(start)}, "end": {unix(end)}, "step": {step.String()}}, &data)
	}
	if err != nil {
		return 0, err
	}
	n := 0
	count := func(v []any) {
		if len(v) == 2 {
			if s, ok := v[1].(string); ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
					n++
				}
			}
		}
	}
	for _, r := range data.Result {
		count(r.Value)
		for _, v := range r.Values {
			count(v)
		}
	}
	return n, nil
}

func unix(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }
