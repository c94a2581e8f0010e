//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// landedFile is one object version a test wrote to the landing bucket and
// expects delivered exactly once.
type landedFile struct {
	partner, key, version string
	sha256                string
	size                  int64
}

func (l landedFile) id() string { return fileid.WorkflowID(l.partner, "landing", l.key, l.version) }

// destKey is where the partner's destination holds the delivered file.
func (l landedFile) destKey(st *stacktest.Stack) string {
	return st.Config.Partners[l.partner].Destination.Prefix + strings.TrimPrefix(l.key, l.partner+"/inbound/")
}

// runFolder is a test run's folder below each partner's inbound prefix,
// and so below its destination prefix: what the run writes and what it
// cleans up.
type runFolder struct {
	st       *stacktest.Stack
	name     string // load-<random>
	partners []string
}

func (r runFolder) landingPrefix(partner string) string { return partner + "/inbound/" + r.name + "/" }

func (r runFolder) destPrefix(partner string) string {
	return r.st.Config.Partners[partner].Destination.Prefix + r.name + "/"
}

// cleanUp removes every version the run wrote (landing, destination,
// quarantine) and aborts multipart uploads left in them, at the end of
// the test whether it passed or not: a load run writes gigabytes. When
// the test failed, the files' workflows that still run are terminated
// first, so they write nothing after the cleanup.
func (r runFolder) cleanUp(t *testing.T, ids func() []string) {
	t.Cleanup(func() {
		st := r.st
		ctx := context.Background()
		if t.Failed() {
			for _, id := range ids() {
				_ = st.Temporal.TerminateWorkflow(ctx, id, "", "load test cleanup")
			}
		}
		for _, p := range r.partners {
			dest := st.Config.Partners[p].Destination
			for _, loc := range [][2]string{
				{st.Config.Landing.Bucket, r.landingPrefix(p)},
				{dest.Bucket, r.destPrefix(p)},
				{st.Config.Quarantine.Bucket, p + "/" + r.name + "/"},
			} {
				abortUploads(t, st, loc[0], loc[1])
				st.RemoveVersions(t, loc[0], loc[1])
			}
		}
	})
}

// abortUploads aborts every multipart upload below prefix.
func abortUploads(t testing.TB, st *stacktest.Stack, bucket, prefix string) {
	ctx := context.Background()
	for _, u := range multipartUploads(t, st, bucket, prefix) {
		if _, err := st.AWS.S3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
			t.Logf("aborting the upload of s3://%s/%s: %v", bucket, aws.ToString(u.Key), err)
		}
	}
}

type pendingUpload struct{ Key, UploadId *string }

// multipartUploads lists the multipart uploads in progress below prefix.
func multipartUploads(t testing.TB, st *stacktest.Stack, bucket, prefix string) []pendingUpload {
	var ups []pendingUpload
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		out, err := st.AWS.S3.ListMultipartUploads(context.Background(), in)
		if err != nil {
			t.Logf("listing multipart uploads in s3://%s/%s: %v", bucket, prefix, err)
			return ups
		}
		for _, u := range out.Uploads {
			ups = append(ups, pendingUpload{u.Key, u.UploadId})
		}
		if !aws.ToBool(out.IsTruncated) {
			return ups
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// executions lists the IngestFile executions started since (every run of
// every workflow ID), by workflow ID.
func executions(t testing.TB, st *stacktest.Stack, since time.Time) map[string][]*workflowpb.WorkflowExecutionInfo {
	t.Helper()
	runs := map[string][]*workflowpb.WorkflowExecutionInfo{}
	req := &workflowservice.ListWorkflowExecutionsRequest{
		PageSize: 1000,
		Query:    fmt.Sprintf("WorkflowType = '%s' AND StartTime >= '%s'", ingest.WorkflowName, since.Add(-time.Second).UTC().Format(time.RFC3339Nano)),
	}
	for {
		resp, err := st.Temporal.ListWorkflow(context.Background(), req)
		if err != nil {
			t.Fatalf("listing workflows %q: %v", req.Query, err)
		}
		for _, e := range resp.Executions {
			id := e.Execution.GetWorkflowId()
			runs[id] = append(runs[id], e)
		}
		if len(resp.NextPageToken) == 0 {
			return runs
		}
		req.NextPageToken = resp.NextPageToken
	}
}

// waitClosed waits until every file's workflow has closed, as Temporal's
// visibility lists them, and returns the executions (every run of each).
func waitClosed(t *testing.T, st *stacktest.Stack, files []landedFile, since time.Time, within time.Duration) map[string][]*workflowpb.WorkflowExecutionInfo {
	t.Helper()
	var runs map[string][]*workflowpb.WorkflowExecutionInfo
	began := time.Now()
	lastLog := began
	stacktest.Eventually(t, within, func() (bool, string) {
		runs = executions(t, st, since)
		closed, running, missing := 0, 0, 0
		var example string
		for _, f := range files {
			rs := runs[f.id()]
			switch {
			case len(rs) == 0:
				missing++
				example = fmt.Sprintf("no workflow for s3://landing/%s (version %s)", f.key, f.version)
			case slices.ContainsFunc(rs, func(e *workflowpb.WorkflowExecutionInfo) bool {
				return e.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
			}):
				running++
			default:
				closed++
			}
		}
		state := fmt.Sprintf("%d of %d files' workflows closed, %d running, %d not started (%s)", closed, len(files), running, missing, example)
		if time.Since(lastLog) > 30*time.Second {
			lastLog = time.Now()
			t.Logf("after %s: %s", time.Since(began).Round(time.Second), state)
		}
		// Polling a listing of thousands costs the stack: not more than every 2 s.
		if closed < len(files) {
			time.Sleep(2 * time.Second)
		}
		return closed == len(files), state
	})
	return runs
}

// checkDeliveredOnce checks what Ferry promises for each file, as a
// compliance reviewer would: exactly one workflow run, closed as
// delivered; a record saying delivered with the file's SHA-256 and the
// destination version; exactly one version at the destination, that one;
// exactly one file.delivered notification (per idempotency key), signed,
// and no other outcome announced; no multipart upload left in the destination folders. It
// returns the latest close time (when the last file was done).
func checkDeliveredOnce(t *testing.T, st *stacktest.Stack, r runFolder, files []landedFile, runs map[string][]*workflowpb.WorkflowExecutionInfo) time.Time {
	t.Helper()
	ctx := context.Background()
	var last time.Time
	problems := &problemList{}
	for _, f := range files {
		rs := runs[f.id()]
		if len(rs) != 1 {
			problems.add("%s: %d workflow runs, want 1", f.key, len(rs))
			continue
		}
		e := rs[0]
		if e.Status != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			problems.add("%s: workflow %s is %s, want completed", f.key, f.id(), e.Status)
		}
		var status string
		if p := e.GetSearchAttributes().GetIndexedFields()["FileStatus"]; p == nil || converter.GetDefaultDataConverter().FromPayload(p, &status) != nil || status != string(filestatus.Delivered) {
			problems.add("%s: workflow %s has FileStatus %q, want delivered", f.key, f.id(), status)
		}
		if c := e.GetCloseTime().AsTime(); c.After(last) {
			last = c
		}
	}

	// The records, read concurrently: thousands of GetItem calls.
	store := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable)
	records := make([]*filestore.File, len(files))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rec, err := store.Get(ctx, files[i].id())
				if err != nil {
					problems.add("%s: reading its record: %v", files[i].key, err)
					continue
				}
				records[i] = rec
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()

	// The destination, listed folder by folder.
	versions := map[string][]string{} // destination key → version IDs
	for _, p := range r.partners {
		dest := st.Config.Partners[p].Destination
		pg := s3.NewListObjectVersionsPaginator(st.AWS.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(dest.Bucket), Prefix: aws.String(r.destPrefix(p))})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatalf("listing s3://%s/%s: %v", dest.Bucket, r.destPrefix(p), err)
			}
			for _, v := range page.Versions {
				versions[dest.Bucket+"/"+aws.ToString(v.Key)] = append(versions[dest.Bucket+"/"+aws.ToString(v.Key)], aws.ToString(v.VersionId))
			}
		}
		if ups := multipartUploads(t, st, dest.Bucket, r.destPrefix(p)); len(ups) > 0 {
			problems.add("%d multipart uploads left behind in s3://%s/%s", len(ups), dest.Bucket, r.destPrefix(p))
		}
	}
	expected := map[string]bool{}
	for i, f := range files {
		rec := records[i]
		dk := st.Config.Partners[f.partner].Destination.Bucket + "/" + f.destKey(st)
		expected[dk] = true
		vs := versions[dk]
		if len(vs) != 1 {
			problems.add("%s: %d destination versions of s3://%s, want 1", f.key, len(vs), dk)
		}
		if rec == nil {
			continue
		}
		if rec.Status != filestatus.Delivered || rec.SHA256 != f.sha256 || rec.Size != f.size || rec.DestKey != f.destKey(st) {
			problems.add("%s: record says %s, SHA-256 %s, %d bytes, to %s; want delivered, %s, %d bytes, to %s",
				f.key, rec.Status, rec.SHA256, rec.Size, rec.DestKey, f.sha256, f.size, f.destKey(st))
		}
		if len(vs) == 1 && rec.DestVersionID != vs[0] {
			problems.add("%s: the record names destination version %s, S3 holds %s", f.key, rec.DestVersionID, vs[0])
		}
	}
	for dk := range versions {
		if !expected[dk] {
			problems.add("s3://%s was delivered but no file of the run should have gone there", dk)
		}
	}

	// The notifications the webhook received.
	counts, err := notificationCounts(st)
	if err != nil {
		t.Fatalf("reading the webhook sink's notifications: %v", err)
	}
	resent := 0
	for _, f := range files {
		c := counts[f.id()]
		resent += c["resent"]
		if c["file.delivered"] != 1 {
			problems.add("%s: %d file.delivered notifications, want 1", f.key, c["file.delivered"])
		}
		for typ, n := range c {
			if typ != "file.delivered" && typ != "unverified" && typ != "resent" {
				problems.add("%s: %d %s notifications besides the delivery", f.key, n, typ)
			}
		}
		if c["unverified"] > 0 {
			problems.add("%s: %d notifications whose signature did not verify", f.key, c["unverified"])
		}
	}
	if resent > 0 {
		t.Logf("the webhook received %d notifications again under the same idempotency key (a step retried after a worker died)", resent)
	}
	problems.report(t, len(files))
	return last
}

// notificationCounts counts the notifications the webhook sink received
// by file ID and type, once per idempotency key: a notification sent
// again (its step retried after a worker died) carries the same key, and
// receivers deduplicate on it (README, Notifications). "unverified"
// counts those whose signature failed, "resent" the repeats.
func notificationCounts(st *stacktest.Stack) (map[string]map[string]int, error) {
	b, err := os.ReadFile(st.Env["FERRY_NOTIFICATIONS_FILE"])
	if err != nil {
		return nil, err
	}
	counts := map[string]map[string]int{}
	seen := map[string]bool{}
	for line := range strings.SplitSeq(string(b), "\n") {
		var rec struct {
			Notification      notify.Event
			IdempotencyKey    string
			SignatureVerified bool
		}
		if line == "" || json.Unmarshal([]byte(line), &rec) != nil || rec.Notification.FileID == "" {
			continue
		}
		c := counts[rec.Notification.FileID]
		if c == nil {
			c = map[string]int{}
			counts[rec.Notification.FileID] = c
		}
		if !rec.SignatureVerified {
			c["unverified"]++
		}
		if seen[rec.IdempotencyKey] {
			c["resent"]++
			continue
		}
		seen[rec.IdempotencyKey] = true
		c[rec.Notification.Type]++
	}
	return counts, nil
}

// problemList gathers what is wrong with many files, to report the count
// and the first few rather than thousands of lines.
type problemList struct {
	mu   sync.Mutex
	list []string
}

func (p *problemList) add(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.list = append(p.list, fmt.Sprintf(format, args...))
}

func (p *problemList) report(t *testing.T, files int) {
	t.Helper()
	if len(p.list) == 0 {
		return
	}
	sort.Strings(p.list)
	shown := p.list[:min(len(p.list), 20)]
	t.Errorf("%d problems across %d files; the first %d:\n  %s", len(p.list), files, len(shown), strings.Join(shown, "\n  "))
}

// errList gathers errors from goroutines, which must not fail the test
// themselves.
type errList struct {
	mu   sync.Mutex
	errs []error
}

func (e *errList) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

func (e *errList) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(e.errs...)
}
