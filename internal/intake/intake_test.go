package intake_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/landing"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/rules"
	"github.com/ferrydata/ferry/internal/s3event"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func testConfig() *config.Config {
	return &config.Config{
		Temporal:   config.Temporal{TaskQueue: "ferry-ingest"},
		Landing:    config.Landing{Bucket: "landing", TemporarySuffixes: []string{".filepart"}},
		Quarantine: config.Bucket{Bucket: "quarantine"},
		Bridge:     config.Bridge{MaxConcurrentStarts: 2, StartsPerSecond: 100, QueueWait: time.Second},
		Delivery:   config.Delivery{MultipartThresholdBytes: 64 << 20, PartSizeBytes: 16 << 20, CopyConcurrency: 4},
		Partners: map[string]config.Partner{
			"acme": {
				Destination: config.Destination{Bucket: "delivered", Prefix: "acme/"},
				Rules:       rules.Rules{AllowedExtensions: []string{".csv"}},
				Governance:  governance.Policy{Encryption: governance.SSEKMS, KMSKeyID: "k1"},
				Approval:    approval.Policy{Approvers: []string{"alice"}},
			},
			"globex": {
				Destination: config.Destination{Bucket: "delivered", Prefix: "globex/"},
				Rules:       rules.Rules{Sidecar: rules.Sidecar{Required: true}},
			},
		},
	}
}

// upload is the object of an SFTP upload's event: acme's orders.csv.
func upload() s3event.Object {
	return s3event.Object{
		EventName: "s3:ObjectCreated:Put", EventTime: time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC),
		Bucket: "landing", Key: "acme/inbound/2026/orders.csv", VersionID: "v1", ETag: `"abc"`,
		Size: 12, Principal: "acme", SourceIP: "127.0.0.1", RequestID: "18EAE6182707631D", Via: "sqs/s3",
	}
}

func TestPlanIgnoresWhatIsNotAPartnersUpload(t *testing.T) {
	in := &intake.Intake{Config: testConfig()}
	tests := []struct {
		name     string
		change   func(*s3event.Object)
		reason   string
		expected bool
	}{
		{"delete event", func(o *s3event.Object) { o.EventName = "s3:ObjectRemoved:Delete" }, "does not create an object", true},
		{"tagging event", func(o *s3event.Object) { o.EventName = "s3:ObjectCreated:PutTagging" }, "does not create an object", true},
		{"other bucket", func(o *s3event.Object) { o.Bucket = "delivered" }, "bucket delivered is not the landing bucket landing", false},
		{"folder marker", func(o *s3event.Object) { o.Key, o.Size = "acme/inbound/2026/", 0 }, "folder marker", true},
		{"unknown partner", func(o *s3event.Object) { o.Key = "umbrella/inbound/orders.csv" }, `"umbrella" is not a configured partner`, false},
		{"outside inbound", func(o *s3event.Object) { o.Key = "acme/outbound/orders.csv" }, "outside partner acme's upload folder", false},
		{"temporary name", func(o *s3event.Object) { o.Key += ".filepart" }, "temporary upload name", true},
		{"sidecar", func(o *s3event.Object) { o.Key = "globex/inbound/orders.csv.sha256" }, "checksum sidecar", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := upload()
			tt.change(&o)
			// CheckKnown without Files or Workflows: an ignored object must
			// not be looked up at all.
			p, err := in.Plan(context.Background(), o, intake.CheckKnown)
			if err != nil {
				t.Fatal(err)
			}
			if p.Decision != intake.Ignore || !strings.Contains(p.Reason, tt.reason) || p.Expected != tt.expected {
				t.Fatalf("planned %s (%q, expected %v), want ignore with %q, expected %v", p.Decision, p.Reason, p.Expected, tt.reason, tt.expected)
			}
			if p.WorkflowID != "" || p.Input != nil {
				t.Errorf("an ignored object got a workflow ID %q or input", p.WorkflowID)
			}
		})
	}
}

func TestPlanBuildsTheStart(t *testing.T) {
	in := &intake.Intake{Config: testConfig()}
	tests := []struct {
		name    string
		change  func(*s3event.Object)
		version string // what identifies the version in the ID
	}{
		{"versioned bucket", func(*s3event.Object) {}, "v1"},
		{"unversioned bucket", func(o *s3event.Object) { o.VersionID = "null" }, "etag:abc"},
		{"sidecar of a partner without sidecars is a file", func(o *s3event.Object) { o.Key += ".sha256" }, "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := upload()
			tt.change(&o)
			p, err := in.Plan(context.Background(), o, intake.SkipKnownCheck)
			if err != nil {
				t.Fatal(err)
			}
			if p.Decision != intake.Start {
				t.Fatalf("planned %s (%s), want start", p.Decision, p.Reason)
			}
			id := fileid.WorkflowID("acme", "landing", o.Key, tt.version)
			if p.WorkflowID != id || p.Partner != "acme" {
				t.Errorf("workflow ID %q of partner %q, want %q of acme", p.WorkflowID, p.Partner, id)
			}
			path := strings.TrimPrefix(o.Key, "acme/inbound/")
			acme := in.Config.Partners["acme"]
			want := ingest.Input{
				FileID: id, Partner: "acme", Bucket: "landing", Key: o.Key, VersionID: o.VersionID, ETag: `"abc"`,
				Size: 12, EventName: "s3:ObjectCreated:Put", EventTime: o.EventTime, Source: "sqs/s3",
				// The partner's policies travel in the input, as of arrival.
				Rules: acme.Rules, Governance: acme.Governance, Approval: acme.Approval,
				DestBucket: "delivered", DestKey: "acme/" + path,
				QuarantineBucket: "quarantine", QuarantineKey: "acme/" + path, RejectedKey: "rejected/acme/" + path,
				Uploader: "acme",
				Copy:     ingest.CopyOptions{MultipartThresholdBytes: 64 << 20, PartSizeBytes: 16 << 20, Concurrency: 4},
				Provenance: &ingest.Provenance{
					Principal: "acme", SourceIP: "127.0.0.1", RequestID: "18EAE6182707631D", EventTime: o.EventTime,
				},
			}
			if !reflect.DeepEqual(*p.Input, want) {
				t.Errorf("input\n got %+v\nwant %+v", *p.Input, want)
			}
			if err := p.Input.Validate(p.Options.ID); err != nil {
				t.Errorf("the workflow would refuse its input: %v", err)
			}

			opts := p.Options
			if opts.ID != id || opts.TaskQueue != "ferry-ingest" {
				t.Errorf("start options ID %q on %q", opts.ID, opts.TaskQueue)
			}
			if opts.WorkflowIDReusePolicy != enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE ||
				opts.WorkflowIDConflictPolicy != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING {
				t.Errorf("reuse %s, conflict %s: a version must get one execution, ever", opts.WorkflowIDReusePolicy, opts.WorkflowIDConflictPolicy)
			}
			for _, sa := range []struct {
				key  temporal.SearchAttributeKeyKeyword
				want string
			}{{ingest.PartnerAttr, "acme"}, {ingest.ObjectKeyAttr, o.Key}, {ingest.FileStatusAttr, "received"}} {
				if v, ok := opts.TypedSearchAttributes.GetKeyword(sa.key); !ok || v != sa.want {
					t.Errorf("search attribute %s = %q, want %q", sa.key.GetName(), v, sa.want)
				}
			}
			if opts.StaticSummary != "acme: "+path || !strings.Contains(opts.StaticDetails, "s3://landing/"+o.Key) || !strings.Contains(opts.StaticDetails, "`"+tt.version+"`") {
				t.Errorf("summary %q, details %q", opts.StaticSummary, opts.StaticDetails)
			}
		})
	}
}

// A file a listing found has no event: its provenance says so, and does
// not pass the lister or the object's LastModified off as the writer's.
func TestPlanSaysAListedFileHasNoEvent(t *testing.T) {
	in := &intake.Intake{Config: testConfig()}
	for _, tt := range []struct {
		lister, principal, via, want string
	}{
		{"reconciler", "reconciler", "reconcile", "started by the reconciler, no event"},
		{"backfill", "backfill:alice", "backfill", "started by backfill:alice, no event"},
	} {
		t.Run(tt.lister, func(t *testing.T) {
			v := landing.Version{Key: "acme/inbound/orders.csv", VersionID: "v1", ETag: `"abc"`, Size: 12, LastModified: time.Now()}
			p, err := in.Plan(context.Background(), v.Object("landing", tt.principal, tt.via), intake.SkipKnownCheck)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := *p.Input.Provenance, (ingest.Provenance{Note: tt.want}); got != want {
				t.Errorf("provenance %+v, want %+v", got, want)
			}
		})
	}
}

// records and workflows stand in for the file store and Temporal; nil
// maps answer every lookup with err.
type records struct {
	have  map[string]bool
	err   error
	asked int
}

func (r *records) Get(_ context.Context, id string) (*filestore.File, error) {
	r.asked++
	switch {
	case r.err != nil:
		return nil, r.err
	case r.have[id]:
		return &filestore.File{FileID: id}, nil
	}
	return nil, filestore.ErrNotFound
}

type workflows struct {
	have  map[string]bool
	err   error
	asked int
}

func (w *workflows) DescribeWorkflowExecution(_ context.Context, id, _ string) (*workflowservice.DescribeWorkflowExecutionResponse, error) {
	w.asked++
	switch {
	case w.err != nil:
		return nil, w.err
	case w.have[id]:
		return &workflowservice.DescribeWorkflowExecutionResponse{}, nil
	}
	return nil, serviceerror.NewNotFound("workflow not found for ID: " + id)
}

func TestPlanChecksWhatIsKnown(t *testing.T) {
	id := fileid.WorkflowID("acme", "landing", upload().Key, "v1")
	down := errors.New("connection refused")
	tests := []struct {
		name              string
		check             intake.Check
		records           *records
		workflows         *workflows
		want              intake.Decision
		wantErr           string
		recordsAsked, wfs int
	}{
		{"record exists (beyond Temporal's retention)", intake.CheckKnown, &records{have: map[string]bool{id: true}}, &workflows{}, intake.Known, "", 1, 0},
		{"workflow exists, no record yet", intake.CheckKnown, &records{}, &workflows{have: map[string]bool{id: true}}, intake.Known, "", 1, 1},
		{"neither", intake.CheckKnown, &records{}, &workflows{}, intake.Start, "", 1, 1},
		{"DynamoDB down", intake.CheckKnown, &records{err: down}, &workflows{}, 0, "reading the file record " + id, 1, 0},
		{"Temporal down", intake.CheckKnown, &records{}, &workflows{err: down}, 0, "looking up workflow " + id, 1, 1},
		{"no check asked (event sources)", intake.SkipKnownCheck, &records{have: map[string]bool{id: true}}, &workflows{have: map[string]bool{id: true}}, intake.Start, "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &intake.Intake{Config: testConfig(), Files: tt.records, Workflows: tt.workflows}
			p, err := in.Plan(context.Background(), upload(), tt.check)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, down) {
					t.Fatalf("error %v, want one saying %q and wrapping the cause", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case p.Decision != tt.want:
				t.Fatalf("planned %s, want %s", p.Decision, tt.want)
			}
			if tt.records.asked != tt.recordsAsked || tt.workflows.asked != tt.wfs {
				t.Errorf("asked the file store %d and Temporal %d times, want %d and %d", tt.records.asked, tt.workflows.asked, tt.recordsAsked, tt.wfs)
			}
		})
	}
}

func TestKnownCheckNeedsItsLookups(t *testing.T) {
	in := &intake.Intake{Config: testConfig()}
	if _, err := in.Plan(context.Background(), upload(), intake.CheckKnown); err == nil {
		t.Fatal("a known-check without Files and Workflows answered")
	}
}

// starter records the starts it is asked for and answers with err.
type starter struct {
	opts []client.StartWorkflowOptions
	args []any
	err  error
}

func (s *starter) ExecuteWorkflow(_ context.Context, o client.StartWorkflowOptions, wf any, args ...any) (client.WorkflowRun, error) {
	s.opts, s.args = append(s.opts, o), append(s.args, args...)
	if wf != ingest.WorkflowName {
		return nil, errors.New("wrong workflow type")
	}
	return nil, s.err
}

func TestIngestStartsThePlanOnly(t *testing.T) {
	ctx := context.Background()
	s := &starter{err: serviceerror.NewWorkflowExecutionAlreadyStarted("done before", "", "")}
	in := &intake.Intake{Config: testConfig(), Temporal: s}

	// A duplicate of a finished version is accepted: the workflow exists.
	p, err := in.Ingest(ctx, upload(), intake.SkipKnownCheck)
	if err != nil || p.Decision != intake.Start {
		t.Fatalf("duplicate start: %s, %v", p.Decision, err)
	}
	if len(s.opts) != 1 || s.opts[0].ID != p.WorkflowID || s.args[0] != p.Input {
		t.Fatalf("started %+v with %v, want the plan's options and input", s.opts, s.args)
	}

	o := upload()
	o.Key = "acme/inbound/x.filepart"
	if p, err := in.IngestWhenFree(ctx, o, intake.SkipKnownCheck); err != nil || p.Decision != intake.Ignore || len(s.opts) != 1 {
		t.Fatalf("an ignored object: %s, %v, %d starts", p.Decision, err, len(s.opts))
	}
	if err := in.StartWhenFree(ctx, intake.Plan{Decision: intake.Known}); err == nil {
		t.Fatal("StartWhenFree started a known file")
	}

	// Any other failure is the caller's to retry, with the cause kept.
	s.err = serviceerror.NewInvalidArgument("bad search attribute")
	_, err = in.IngestWhenFree(ctx, upload(), intake.SkipKnownCheck)
	var invalid *serviceerror.InvalidArgument
	if !errors.As(err, &invalid) || !strings.Contains(err.Error(), "starting workflow "+p.WorkflowID) {
		t.Fatalf("error %v, want the InvalidArgument wrapped with the workflow ID", err)
	}
}

func TestCountsAddUp(t *testing.T) {
	var page intake.Counts
	for _, d := range []intake.Decision{intake.Start, intake.Known, intake.Known, intake.Ignore} {
		page.Listed++
		page.Add(d)
	}
	page.Listed++
	page.Deferred++ // younger than reconcile.grace: no decision yet
	total := intake.Counts{Listed: 10, Started: 1, Deferred: 3}
	total.AddCounts(page)
	if want := (intake.Counts{Listed: 15, Started: 2, Known: 2, Ignored: 1, Deferred: 4}); total != want {
		t.Fatalf("counts %+v, want %+v", total, want)
	}
}

// heldStarter holds each start until release is closed, telling started
// when one is in.
type heldStarter struct {
	started chan struct{}
	release chan struct{}
}

func (h *heldStarter) ExecuteWorkflow(ctx context.Context, _ client.StartWorkflowOptions, _ any, _ ...any) (client.WorkflowRun, error) {
	h.started <- struct{}{}
	select {
	case <-h.release:
	case <-ctx.Done():
	}
	return heldRun{}, nil
}

type heldRun struct{ client.WorkflowRun }

func (heldRun) GetRunID() string { return "run" }

// A start that finds the bound taken waits and is counted as throttled,
// by source: the SQS side of back-pressure, which answers nobody 503, is
// seen there. A start that finds a free slot is not counted.
func TestStartsThatWaitForTheBoundAreCounted(t *testing.T) {
	ctx := context.Background()
	exp, m := metricstest.Instruments(t, "acme")
	cfg := testConfig()
	cfg.Bridge.MaxConcurrentStarts, cfg.Bridge.QueueWait = 1, 50*time.Millisecond
	h := &heldStarter{started: make(chan struct{}), release: make(chan struct{})}
	in := &intake.Intake{Config: cfg, Temporal: h, Metrics: m}
	throttled := func(source string) float64 {
		v, _ := metricstest.Gather(t, exp.Registry).Value(metrics.IntakeThrottledTotal, map[string]string{"source": source})
		return v
	}

	first := make(chan error, 1)
	go func() { _, err := in.Ingest(ctx, upload(), intake.SkipKnownCheck); first <- err }()
	<-h.started // holds the only slot
	if n := throttled("sqs") + throttled("http"); n != 0 {
		t.Fatalf("%v starts counted as throttled; the first found a free slot", n)
	}

	// Over HTTP the wait ends at bridge.queue_wait: busy, and throttled.
	o := upload()
	o.Via, o.VersionID = "http/s3", "v2"
	if _, err := in.Ingest(ctx, o, intake.SkipKnownCheck); !errors.Is(err, intake.ErrBusy) {
		t.Fatalf("a start over the bound answered %v, want ErrBusy", err)
	}
	if n := throttled("http"); n != 1 {
		t.Fatalf("ferry_intake_throttled_total{source=http} = %v, want 1", n)
	}

	// From SQS it waits its turn, and is started.
	o.Via, o.VersionID = "sqs/s3", "v3"
	second := make(chan error, 1)
	go func() { _, err := in.IngestWhenFree(ctx, o, intake.SkipKnownCheck); second <- err }()
	stacktest.Eventually(t, 10*time.Second, func() (bool, string) {
		n := throttled("sqs")
		return n == 1, fmt.Sprintf("ferry_intake_throttled_total{source=sqs} = %v, want 1", n)
	})
	close(h.release)
	<-h.started
	if err := errors.Join(<-first, <-second); err != nil {
		t.Fatal(err)
	}
}

// A partner that sends batches: a file in a folder below inbound/ belongs
// to that folder's batch, a manifest is told by its name, and a file
// directly in inbound/ (or any file of a partner without batches) is on
// its own.
func TestPlanNamesTheBatch(t *testing.T) {
	cfg := testConfig()
	acme := cfg.Partners["acme"]
	acme.Batch = &config.Batch{Manifest: []string{"*.manifest.json", "*.sha256"}, Timeout: time.Hour}
	cfg.Partners["acme"] = acme
	in := &intake.Intake{Config: cfg}
	plan := func(key string) *batch.Membership {
		o := upload()
		o.Key = key
		p, err := in.Plan(context.Background(), o, intake.SkipKnownCheck)
		if err != nil || p.Decision != intake.Start {
			t.Fatalf("%s: planned %s (%s), %v", key, p.Decision, p.Reason, err)
		}
		return p.Input.Batch
	}
	set := batch.Settings{ManifestPatterns: acme.Batch.Manifest, Timeout: time.Hour}
	id := batch.WorkflowID("acme", "landing", "acme/inbound/b1/")
	if got, want := plan("acme/inbound/b1/labs_1.csv"), (&batch.Membership{WorkflowID: id, Folder: "acme/inbound/b1/", Name: "labs_1.csv", Settings: set}); !reflect.DeepEqual(got, want) {
		t.Errorf("member: %+v, want %+v", got, want)
	}
	if got := plan("acme/inbound/b1/labs.manifest.json"); got == nil || !got.Manifest || got.WorkflowID != id {
		t.Errorf("manifest: %+v, want the manifest of %s", got, id)
	}
	if got := plan("acme/inbound/b1/x.sha256"); got == nil || !got.Manifest {
		t.Errorf("sha256sum manifest: %+v", got)
	}
	if got := plan("acme/inbound/labs_1.csv"); got != nil {
		t.Errorf("a file directly in inbound/ is in batch %+v", got)
	}
	o := upload()
	o.Key = "globex/inbound/b1/labs_1.csv"
	if p, _ := in.Plan(context.Background(), o, intake.SkipKnownCheck); p.Input == nil || p.Input.Batch != nil {
		t.Errorf("globex sends no batches, but its file's plan is %+v", p)
	}
}

// batchRecords is a file store that also answers for many files at once.
type batchRecords struct {
	records
	batches int
	err     error
}

func (b *batchRecords) Recorded(_ context.Context, ids []string) (map[string]bool, error) {
	b.batches++
	if b.err != nil {
		return nil, b.err
	}
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = b.have[id]
	}
	return out, nil
}

// A listing's page asks the file store once for every version's record,
// and Temporal only about those without one; a folder marker is ignored
// without a lookup. A store that cannot batch is asked one by one, as
// Plan does.
func TestPlanPageAsksForThePagesRecordsAtOnce(t *testing.T) {
	ctx := context.Background()
	version := func(key, v string) s3event.Object {
		o := upload()
		o.Key, o.VersionID = key, v
		return o
	}
	delivered, running, lost := version("acme/inbound/a.csv", "v1"), version("acme/inbound/b.csv", "v1"), version("acme/inbound/c.csv", "v1")
	folder := version("acme/inbound/2026/", "v1")
	idOf := func(o s3event.Object) string { return fileid.WorkflowID("acme", o.Bucket, o.Key, o.VersionID) }
	page := []s3event.Object{delivered, folder, running, lost}
	want := []intake.Decision{intake.Known, intake.Ignore, intake.Known, intake.Start}

	store := &batchRecords{records: records{have: map[string]bool{idOf(delivered): true}}}
	wfs := &workflows{have: map[string]bool{idOf(running): true}}
	in := &intake.Intake{Config: testConfig(), Files: store, Workflows: wfs}
	plans, err := in.PlanPage(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range plans {
		if p.Decision != want[i] {
			t.Errorf("%s: planned %s, want %s", page[i].Key, p.Decision, want[i])
		}
	}
	if store.batches != 1 || store.asked != 0 || wfs.asked != 2 {
		t.Errorf("asked the store %d batches and %d single lookups, Temporal %d times; want 1, 0 and 2 (the two without a record)", store.batches, store.asked, wfs.asked)
	}

	down := errors.New("connection refused")
	in.Files = &batchRecords{err: down}
	if _, err := in.PlanPage(ctx, page); !errors.Is(err, down) || !strings.Contains(err.Error(), "already recorded") {
		t.Errorf("batch lookup failing: %v, want an error saying what was checked, wrapping the cause", err)
	}

	single := &records{have: map[string]bool{idOf(delivered): true}}
	in.Files, in.Workflows = single, &workflows{have: map[string]bool{idOf(running): true}}
	plans, err = in.PlanPage(ctx, page)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range plans {
		if p.Decision != want[i] {
			t.Errorf("one by one, %s: planned %s, want %s", page[i].Key, p.Decision, want[i])
		}
	}
	if single.asked != 3 {
		t.Errorf("a store that cannot batch was asked %d times, want 3 (one per upload)", single.asked)
	}
}
