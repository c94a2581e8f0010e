//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
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

// idsOf returns the workflow IDs of the files, read under mu as the
// goroutines that write them append.
func idsOf(mu *sync.Mutex, files *[]landedFile) func() []string {
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		ids := make([]string, len(*files))
		for i, f := range *files {
			ids[i] = f.id()
		}
		return ids
	}
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

// check checks the run's files with the fault suite's invariant checker
// (invariants_test.go), as a compliance reviewer would: each delivered
// exactly once — one workflow, one destination version that its record
// names with the file's SHA-256, one signed file.delivered notification
// per idempotency key and no other outcome, an audit trail that verifies —
// and no multipart upload left. Files in sftp must have been started by
// MinIO's webhook (http/s3), their only announcement.
func (r runFolder) check(t *testing.T, files []landedFile, sftp map[string]bool, since time.Time) {
	t.Helper()
	want := map[string]expectation{}
	for _, f := range files {
		e := expectation{partner: f.partner, status: filestatus.Delivered, sha256: f.sha256, size: f.size, via: "s3"}
		if sftp[f.id()] {
			e.via, e.source = "sftp", "http/s3"
		}
		want[f.key] = e
	}
	checkInvariants(t, newChecker(r.st, r.name+"/", since.Add(-time.Minute), want))
}

// lastClose is when the last of the runs closed.
func lastClose(runs map[string][]*workflowpb.WorkflowExecutionInfo) time.Time {
	var last time.Time
	for _, rs := range runs {
		for _, e := range rs {
			if c := e.GetCloseTime().AsTime(); c.After(last) {
				last = c
			}
		}
	}
	return last
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
