//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The one checker every fault test ends with. Ferry's promise, per object
// version that landed (a "file"):
//
//   - exactly one IngestFile workflow (Temporal visibility), and no
//     workflow for the key that is not a landed version's;
//   - exactly one copy where its outcome puts it: one version in the
//     destination for a delivered file, one in quarantine for a
//     quarantined one (found by the ferry-file-id Ferry writes on each),
//     and none in the other;
//   - its record in ferry-files in that final status, naming that version;
//   - an audit trail that verifies, with one entry per status it entered,
//     ending in the record's status;
//   - one notification per outcome under the idempotency contract: one
//     idempotency key for its outcome (file.delivered or
//     file.quarantined) and none for another outcome; copies sent again
//     under the same key (a retry) are allowed and counted, but must
//     describe the same outcome, and every one must be signed;
//   - no multipart upload left behind in the destination or quarantine;
//   - no workflow stuck: closed, or waiting quarantined for a decision
//     with nothing pending.
//
// check reports every broken invariant of every file, not the first.

// expectation is what one upload must become.
type expectation struct {
	partner string
	status  filestatus.Status // delivered or quarantined
	sha256  string
	size    int64
	via     string // how it was uploaded: sftp, s3, sqs
	source  string // the workflow's Source it must have ("" for any): which event started it
}

// landedVersion is one file: an object version in landing.
type landedVersion struct {
	id, partner, key, versionID string
	size                        int64
	// want is what it must become; a version the test did not write as
	// such (an SFTP upload cut short by an outage, which MinIO stored
	// truncated) may be delivered or quarantined: want.status is "".
	want expectation
}

// checker checks the invariants for the files of one test: the versions
// in landing under <partner>/inbound/<token>.
type checker struct {
	st    *stacktest.Stack
	token string
	since time.Time // no workflow of the test started before
	want  map[string]expectation
}

func newChecker(st *stacktest.Stack, token string, since time.Time, want map[string]expectation) *checker {
	return &checker{st: st, token: token, since: since, want: want}
}

// landed lists the test's files in landing: every version below its
// prefixes except the sidecars (which are not files) and folder markers.
func (c *checker) landed(ctx context.Context) ([]landedVersion, error) {
	var files []landedVersion
	landing := c.st.Config.Landing.Bucket
	for _, p := range c.partners() {
		pg := s3.NewListObjectVersionsPaginator(c.st.AWS.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(landing), Prefix: aws.String(p + "/inbound/" + c.token)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing s3://%s/%s/inbound/%s: %w", landing, p, c.token, err)
			}
			for _, v := range page.Versions {
				key := aws.ToString(v.Key)
				if strings.HasSuffix(key, ".sha256") || strings.HasSuffix(key, "/") {
					continue
				}
				f := landedVersion{partner: p, key: key, versionID: aws.ToString(v.VersionId), size: aws.ToInt64(v.Size)}
				f.id = fileid.WorkflowID(p, landing, key, fileid.VersionOrETag(f.versionID, aws.ToString(v.ETag)))
				f.want = c.want[key]
				if f.want.size != f.size {
					// Not the bytes the test sent: only its fate is asked.
					f.want = expectation{partner: p, via: f.want.via, source: f.want.source}
				}
				files = append(files, f)
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].key < files[j].key })
	return files, nil
}

func (c *checker) partners() []string {
	seen := map[string]bool{}
	for _, w := range c.want {
		seen[w.partner] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// execution is one IngestFile execution as visibility lists it.
type execution struct {
	id, runID, key, fileStatus string
	status                     enumspb.WorkflowExecutionStatus
}

func (e execution) running() bool {
	return e.status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// final says whether the execution has finished its work: closed, or
// waiting quarantined for people to decide.
func (e execution) final() bool {
	return !e.running() || e.fileStatus == string(filestatus.Quarantined)
}

// listIngestions lists the IngestFile executions started since since for
// keys holding token.
func listIngestions(ctx context.Context, st *stacktest.Stack, since time.Time, token string) ([]execution, error) {
	q := fmt.Sprintf("WorkflowType = '%s' AND StartTime >= '%s'", ingest.WorkflowName, since.UTC().Format(time.RFC3339))
	var all []execution
	var next []byte
	for {
		resp, err := st.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: q, PageSize: 1000, NextPageToken: next})
		if err != nil {
			return nil, fmt.Errorf("listing workflows %q: %w", q, err)
		}
		for _, w := range resp.Executions {
			e := execution{id: w.Execution.GetWorkflowId(), runID: w.Execution.GetRunId(), status: w.Status}
			fields := w.GetSearchAttributes().GetIndexedFields()
			_ = converter.GetDefaultDataConverter().FromPayload(fields[ingest.ObjectKeyAttr.GetName()], &e.key)
			_ = converter.GetDefaultDataConverter().FromPayload(fields[ingest.FileStatusAttr.GetName()], &e.fileStatus)
			if strings.Contains(e.key, token) {
				all = append(all, e)
			}
		}
		if next = resp.NextPageToken; len(next) == 0 {
			return all, nil
		}
	}
}

// report is what check found.
type report struct {
	files    []landedVersion
	problems map[string][]string // by file ID
	general  []string            // not of one file: uploads left behind, stray workflows
	// Figures for the log.
	outcomes     map[filestatus.Status]int
	sources      map[string]int
	attempts     map[string]int32 // the most attempts an activity of one file took, by activity
	resent       int              // notifications received again under a key already received
	notifyCopies int
}

func (r *report) add(id, format string, args ...any) {
	r.problems[id] = append(r.problems[id], fmt.Sprintf(format, args...))
}

func (r *report) ok() bool { return len(r.problems) == 0 && len(r.general) == 0 }

// check checks every invariant of every file and returns what it found.
func (c *checker) check(ctx context.Context) (*report, error) {
	st := c.st
	files, err := c.landed(ctx)
	if err != nil {
		return nil, err
	}
	r := &report{files: files, problems: map[string][]string{}, outcomes: map[filestatus.Status]int{}, sources: map[string]int{}, attempts: map[string]int32{}}
	if len(files) == 0 {
		r.general = append(r.general, "no file of the test is in landing")
	}
	// Every upload the partners finished is in landing.
	landedKeys := map[string]bool{}
	for _, f := range files {
		landedKeys[f.key] = true
	}
	for key := range c.want {
		if !landedKeys[key] {
			r.general = append(r.general, fmt.Sprintf("%s was uploaded but is not in landing", key))
		}
	}

	execs, err := listIngestions(ctx, st, c.since, c.token)
	if err != nil {
		return nil, err
	}
	byID, byKey := map[string][]execution{}, map[string][]execution{}
	for _, e := range execs {
		byID[e.id] = append(byID[e.id], e)
		byKey[e.key] = append(byKey[e.key], e)
	}
	ids := map[string]bool{}
	for _, f := range files {
		ids[f.id] = true
	}
	for key, es := range byKey {
		for _, e := range es {
			if !ids[e.id] {
				r.general = append(r.general, fmt.Sprintf("workflow %s for %s is no landed version's (a second workflow for one file?)", e.id, key))
			}
		}
	}

	copies, err := c.copies(ctx)
	if err != nil {
		return nil, err
	}
	notes, err := c.notifications(ids)
	if err != nil {
		return nil, err
	}
	records := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable)
	trails := &audit.Store{DB: st.AWS.DynamoDB, Table: st.Config.DynamoDB.AuditTable}

	for _, f := range files {
		id := f.id
		want := f.want.status

		// One workflow, finished or waiting as it should.
		es := byID[id]
		if len(es) != 1 {
			r.add(id, "%d workflow executions, want exactly 1", len(es))
		}
		for _, e := range es {
			switch {
			case e.status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			case e.running() && e.fileStatus == string(filestatus.Quarantined):
				if d, err := st.Temporal.DescribeWorkflowExecution(ctx, id, e.runID); err != nil {
					r.add(id, "describing the waiting workflow: %v", err)
				} else if n := len(d.PendingActivities); n > 0 {
					r.add(id, "waits quarantined with %d activities still pending (%s, attempt %d, last failure %q): stuck",
						n, d.PendingActivities[0].ActivityType.GetName(), d.PendingActivities[0].Attempt, d.PendingActivities[0].GetLastFailure().GetMessage())
				}
			case e.running():
				r.add(id, "workflow still running at FileStatus=%s: stuck", e.fileStatus)
			default:
				r.add(id, "workflow ended %s, not completed", e.status)
			}
			if want != "" && e.fileStatus != string(want) {
				r.add(id, "workflow's FileStatus is %q, want %q", e.fileStatus, want)
			}
		}
		if len(es) > 0 {
			h, err := workflowHistory(ctx, st, id)
			if err != nil {
				r.add(id, "reading the workflow's history: %v", err)
			}
			r.sources[h.source]++
			if f.want.source != "" && h.source != f.want.source {
				r.add(id, "started by %q, want %q (its own event)", h.source, f.want.source)
			}
			for a, n := range h.attempts {
				r.attempts[a] = max(r.attempts[a], n)
			}
		}

		// Its record, in the final status.
		rec, err := records.Get(ctx, id)
		if err != nil {
			r.add(id, "no record in %s: %v", st.Config.DynamoDB.FilesTable, err)
			rec = &filestore.File{}
		}
		status := rec.Status
		r.outcomes[status]++
		switch {
		case rec.FileID == "":
		case want != "" && status != want:
			r.add(id, "record status %q, want %q (reasons %q)", status, want, rec.Reasons)
		case want == "" && status != filestatus.Delivered && status != filestatus.Quarantined:
			r.add(id, "record status %q, want delivered or quarantined (reasons %q)", status, rec.Reasons)
		}
		if f.want.sha256 != "" && rec.FileID != "" && rec.SHA256 != f.want.sha256 {
			r.add(id, "record SHA-256 %q, the upload's is %s", rec.SHA256, f.want.sha256)
		}

		// An audit trail that verifies, one entry per status entered.
		// passed is every status the file entered, by its trail.
		passed := map[filestatus.Status]bool{}
		trail, err := trails.List(ctx, id)
		if err != nil {
			r.add(id, "reading its audit trail: %v", err)
		} else if b := audit.Verify(trail); b != nil {
			r.add(id, "audit trail does not verify: %v (%d entries: %s)", b, len(trail), actions(trail))
		} else {
			seen := map[string]int{}
			last := ""
			for _, e := range trail {
				if st, ok := strings.CutPrefix(e.Action, "status:"); ok {
					seen[e.Action]++
					last = e.Action
					passed[filestatus.Status(st)] = true
				}
			}
			for a, n := range seen {
				if n > 1 {
					r.add(id, "audit trail holds %s %d times (%s)", a, n, actions(trail))
				}
			}
			if status != "" && last != "status:"+string(status) {
				r.add(id, "audit trail's last status is %q, the record's %q", last, status)
			}
		}

		// Exactly one copy, where the outcome puts it.
		delivered, quarantined := copies.dest[id], copies.quarantine[id]
		switch status {
		case filestatus.Delivered:
			if len(delivered) != 1 {
				r.add(id, "%d versions delivered (%v), want exactly 1", len(delivered), versionIDs(delivered))
			} else if d := delivered[0]; d.version != rec.DestVersionID {
				r.add(id, "delivered version %s, the record says %q", d.version, rec.DestVersionID)
			} else if d.sha256 != rec.SHA256 {
				r.add(id, "delivered version says SHA-256 %q, the record %q", d.sha256, rec.SHA256)
			}
			// Released by its approvers: its quarantined copy stays.
			if n := len(quarantined); passed[filestatus.Quarantined] && (n != 1 || quarantined[0].version != rec.QuarantineVersionID) {
				r.add(id, "released from quarantine with %d copies there (%v), want the one its record names (%q)", n, versionIDs(quarantined), rec.QuarantineVersionID)
			} else if !passed[filestatus.Quarantined] && n != 0 {
				r.add(id, "delivered, yet %d copies in quarantine (%v)", n, versionIDs(quarantined))
			}
		case filestatus.Quarantined:
			if len(quarantined) != 1 {
				r.add(id, "%d copies in quarantine (%v), want exactly 1", len(quarantined), versionIDs(quarantined))
			} else if q := quarantined[0]; q.version != rec.QuarantineVersionID {
				r.add(id, "quarantined version %s, the record says %q", q.version, rec.QuarantineVersionID)
			}
			if len(delivered) != 0 {
				r.add(id, "quarantined, yet %d versions delivered (%v)", len(delivered), versionIDs(delivered))
			}
		default:
			if len(delivered)+len(quarantined) > 0 {
				r.add(id, "status %q, yet %d versions delivered and %d in quarantine", status, len(delivered), len(quarantined))
			}
		}

		// One notification per outcome.
		got := notes[id]
		outcomes := map[string]bool{}
		for typ, copies := range got {
			if !slices.Contains(outcomeTypes, typ) {
				continue
			}
			outcomes[typ] = true
			r.notifyCopies += len(copies)
			r.resent += len(copies) - 1
			for _, n := range copies {
				if !n.SignatureVerified {
					r.add(id, "%s received with a signature that does not verify", typ)
				}
				if n.IdempotencyKey != id+"/"+typ {
					r.add(id, "%s received under idempotency key %q, want %q", typ, n.IdempotencyKey, id+"/"+typ)
				}
				if a, b := copies[0].Notification, n.Notification; a.Status != b.Status || a.SHA256 != b.SHA256 || a.DestVer != b.DestVer || !a.At.Equal(b.At) {
					r.add(id, "%s sent again under one key with other facts: %s %s %s at %s, then %s %s %s at %s", typ, a.Status, a.SHA256, a.DestVer, a.At, b.Status, b.SHA256, b.DestVer, b.At)
				}
			}
		}
		// Each outcome the file reached is announced: its final status,
		// and quarantined when it waited there before a decision.
		if status != "" {
			passed[status] = true
		}
		for s := range passed {
			if typ := "file." + string(s); slices.Contains(outcomeTypes, typ) {
				if !outcomes[typ] {
					r.add(id, "no %s notification", typ)
				}
				delete(outcomes, typ)
			}
		}
		for typ := range outcomes {
			r.add(id, "also notified %s", typ)
		}
	}

	// Nothing half-copied left behind.
	for _, u := range copies.uploads {
		r.general = append(r.general, "multipart upload left behind: "+u)
	}
	return r, nil
}

// outcomeTypes are the notifications of an outcome, one per file each.
var outcomeTypes = []string{"file.delivered", "file.quarantined", "file.rejected", "file.failed"}

// storedCopy is one version Ferry wrote for a file.
type storedCopy struct {
	key, version, sha256 string
}

func versionIDs(cs []storedCopy) []string {
	var v []string
	for _, c := range cs {
		v = append(v, c.key+"@"+c.version)
	}
	return v
}

type copiesFound struct {
	dest, quarantine map[string][]storedCopy // by the ferry-file-id they carry
	uploads          []string                // unfinished multipart uploads
}

// copies finds every version Ferry wrote for the test's files, in the
// destinations and the quarantine bucket (rejected copies included), and
// every unfinished multipart upload there.
func (c *checker) copies(ctx context.Context) (*copiesFound, error) {
	st := c.st
	found := &copiesFound{dest: map[string][]storedCopy{}, quarantine: map[string][]storedCopy{}}
	type place struct {
		bucket, prefix string
		into           map[string][]storedCopy
	}
	var places []place
	for _, p := range c.partners() {
		d := st.Config.Partners[p].Destination
		places = append(places, place{d.Bucket, d.Prefix + c.token, found.dest},
			place{st.Config.Quarantine.Bucket, p + "/" + c.token, found.quarantine},
			place{st.Config.Quarantine.Bucket, "rejected/" + p + "/" + c.token, found.quarantine})
	}
	for _, pl := range places {
		pg := s3.NewListObjectVersionsPaginator(st.AWS.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(pl.bucket), Prefix: aws.String(pl.prefix)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing s3://%s/%s: %w", pl.bucket, pl.prefix, err)
			}
			for _, v := range page.Versions {
				head, err := st.AWS.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(pl.bucket), Key: v.Key, VersionId: v.VersionId})
				if err != nil {
					return nil, fmt.Errorf("reading s3://%s/%s version %s: %w", pl.bucket, aws.ToString(v.Key), aws.ToString(v.VersionId), err)
				}
				id := head.Metadata["ferry-file-id"]
				pl.into[id] = append(pl.into[id], storedCopy{key: aws.ToString(v.Key), version: aws.ToString(v.VersionId), sha256: head.Metadata["ferry-sha256"]})
			}
		}
		pu := s3.NewListMultipartUploadsPaginator(st.AWS.S3, &s3.ListMultipartUploadsInput{Bucket: aws.String(pl.bucket), Prefix: aws.String(pl.prefix)})
		for pu.HasMorePages() {
			page, err := pu.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("listing the multipart uploads of s3://%s/%s: %w", pl.bucket, pl.prefix, err)
			}
			for _, u := range page.Uploads {
				found.uploads = append(found.uploads, fmt.Sprintf("s3://%s/%s (upload %s, started %s)", pl.bucket, aws.ToString(u.Key), aws.ToString(u.UploadId), aws.ToTime(u.Initiated).Format(time.RFC3339)))
			}
		}
	}
	return found, nil
}

// received is one notification as the webhook sink wrote it.
type received struct {
	Notification      notify.Event `json:"notification"`
	IdempotencyKey    string       `json:"idempotencyKey"`
	SignatureVerified bool         `json:"signatureVerified"`
}

// notifications reads what the webhook received for the files, by file
// and type.
func (c *checker) notifications(ids map[string]bool) (map[string]map[string][]received, error) {
	f, err := os.Open(c.st.Env["FERRY_NOTIFICATIONS_FILE"])
	if err != nil {
		return nil, fmt.Errorf("reading what the webhook received: %w", err)
	}
	defer f.Close()
	got := map[string]map[string][]received{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var n received
		if json.Unmarshal(sc.Bytes(), &n) != nil || !ids[n.Notification.FileID] {
			continue
		}
		id := n.Notification.FileID
		if got[id] == nil {
			got[id] = map[string][]received{}
		}
		got[id][n.Notification.Type] = append(got[id][n.Notification.Type], n)
	}
	return got, sc.Err()
}

func actions(trail []audit.Entry) string {
	var a []string
	for _, e := range trail {
		a = append(a, e.Action)
	}
	return strings.Join(a, ", ")
}

// history is what a file's workflow history says: the Source in its
// input (which event, or the reconciler, started it) and the most
// attempts each kind of activity took.
type history struct {
	source   string
	attempts map[string]int32
}

func workflowHistory(ctx context.Context, st *stacktest.Stack, id string) (history, error) {
	h := history{attempts: map[string]int32{}}
	names := map[int64]string{}
	it := st.Temporal.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return h, err
		}
		switch {
		case ev.GetWorkflowExecutionStartedEventAttributes() != nil:
			var in ingest.Input
			if err := converter.GetDefaultDataConverter().FromPayloads(ev.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err != nil {
				return h, err
			}
			h.source = in.Source
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			names[ev.EventId] = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case ev.GetActivityTaskStartedEventAttributes() != nil:
			a := ev.GetActivityTaskStartedEventAttributes()
			name := names[a.GetScheduledEventId()]
			h.attempts[name] = max(h.attempts[name], a.GetAttempt())
		}
	}
	return h, nil
}

// settle waits until every file is final (its workflow closed, or
// waiting quarantined), logs how long that took from the fault's end,
// then checks every invariant and fails the test with every broken one,
// file by file. It returns the recovery time.
func settle(t *testing.T, c *checker, faultEnded time.Time, within time.Duration) time.Duration {
	t.Helper()
	ctx := context.Background()
	files, err := c.landed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var recovery time.Duration
	var state string
	deadline := faultEnded.Add(within)
	for {
		execs, err := listIngestions(ctx, c.st, c.since, c.token)
		if err == nil {
			final := map[string]bool{}
			for _, e := range execs {
				final[e.id] = e.final()
			}
			var waiting []string
			for _, f := range files {
				if !final[f.id] {
					waiting = append(waiting, f.key)
				}
			}
			if len(waiting) == 0 {
				recovery = time.Since(faultEnded)
				break
			}
			state = fmt.Sprintf("%d of %d files not final, e.g. %s", len(waiting), len(files), strings.Join(waiting[:min(5, len(waiting))], ", "))
		} else {
			state = err.Error()
		}
		if time.Now().After(deadline) {
			t.Errorf("not every file was final within %s of the fault's end: %s", within, state)
			break
		}
		time.Sleep(time.Second)
	}
	if recovery > 0 {
		t.Logf("recovery: every one of %d files final %s after the fault ended", len(files), recovery.Round(100*time.Millisecond))
	}

	checkInvariants(t, c)
	return recovery
}

// checkInvariants checks every invariant of every file of c once their
// workflows are final, and fails the test with every broken one, file by
// file.
func checkInvariants(t *testing.T, c *checker) {
	t.Helper()
	ctx := context.Background()
	// Visibility, S3 and the webhook's file trail the workflows a little:
	// give them some seconds before calling anything broken.
	var r *report
	var err error
	for checkBy := time.Now().Add(45 * time.Second); ; time.Sleep(2 * time.Second) {
		r, err = c.check(ctx)
		if (err == nil && r.ok()) || time.Now().After(checkBy) {
			break
		}
	}
	if err != nil {
		t.Fatalf("checking the invariants: %v", err)
	}
	t.Logf("checked %d files: outcomes %v; started by %v; most attempts of one activity %v; %d outcome notifications received, %d of them again under a key already received (a retry, which receivers deduplicate)",
		len(r.files), r.outcomes, r.sources, r.attempts, r.notifyCopies, r.resent)
	broken := 0
	for _, f := range r.files {
		if ps := r.problems[f.id]; len(ps) > 0 {
			broken++
			t.Errorf("file %s (s3://%s/%s version %s, via %s): %d broken invariants:\n  - %s",
				f.id, c.st.Config.Landing.Bucket, f.key, f.versionID, f.want.via, len(ps), strings.Join(ps, "\n  - "))
		}
	}
	for _, g := range r.general {
		t.Error(g)
	}
	if broken > 0 {
		t.Errorf("%d of %d files broke an invariant", broken, len(r.files))
	}
}
