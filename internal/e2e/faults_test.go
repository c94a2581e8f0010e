//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The fault suite: one test per fault, each with a steady stream of files
// in flight while part of the local stack dies, each ending with the one
// invariant checker (invariants_test.go) over every file it uploaded and
// a log line saying how long recovery took.
//
// The e2e tier runs it shortened (fewer files, a shorter chaos loop, the
// same faults and outages); make faults runs it at full length:
//
//	go test -tags e2e -run '^TestFault' -timeout 60m ./internal/e2e/ -args -faults.full
var faultsFull = flag.Bool("faults.full", false, "run the fault suite at full length (make faults): 200 small files per test and a minute of worker kills, instead of the e2e tier's shortened form")

// faultPlan is each fault test's traffic.
func faultPlan() trafficPlan {
	if *faultsFull {
		return trafficPlan{small: 200, over: 90 * time.Second, large: 4}
	}
	return trafficPlan{small: 40, over: 40 * time.Second, large: 2}
}

// chaosFor is how long the worker chaos loop goes on killing at random.
func chaosFor() time.Duration {
	if *faultsFull {
		return time.Minute
	}
	return 20 * time.Second
}

// outageFor is how long a stopped server stays down, in both forms.
const outageFor = 30 * time.Second

// settleWithin bounds the wait for every file to be final after a fault.
const settleWithin = 8 * time.Minute

// outage stops p with SIGTERM, keeps it down for d, and starts it again
// with stack.sh up, which must start p alone: every other process keeps
// running with the PID it had, so the worker and the bridge have had to
// reconnect by themselves. It returns when the fault ended.
func outage(t *testing.T, st *stacktest.Stack, p stacktest.Process, d time.Duration) time.Time {
	t.Helper()
	before := st.PIDs(t)
	st.Stop(t, p)
	t.Logf("stopped %s (pid %d) for %s", p, before[p], d)
	time.Sleep(d)
	st.Up(t)
	ended := time.Now()
	after := st.PIDs(t)
	for q, pid := range before {
		switch {
		case q == p && after[q] == pid:
			t.Errorf("%s still has pid %d: stack.sh did not stop it", q, pid)
		case q != p && after[q] != pid:
			t.Errorf("%s (pid %d) did not ride out the %s outage: it runs as pid %d now, started again by stack.sh up", q, pid, p, after[q])
		}
	}
	t.Logf("started %s again (pid %d); every other process kept running", p, after[p])
	return ended
}

// putLarges uploads the plan's large files, alternating S3 API and SFTP
// and partners acme and globex.
func putLarges(t *testing.T, tr *traffic, n int) []*upload {
	t.Helper()
	var us []*upload
	for i := range n {
		us = append(us, tr.putLarge(t, []string{"acme", "globex"}[i%2], []string{"s3", "sftp"}[i%2], largeSize(tr.st, 1)))
	}
	return us
}

// logInFlight says what the test's files were doing at the moment of a
// fault: workflows running, their pending activities by kind and state,
// and workflow tasks being worked on (where records and notifications
// run, as local activities).
func logInFlight(t *testing.T, st *stacktest.Stack, tr *traffic, what string) {
	t.Helper()
	ctx := context.Background()
	execs, err := listIngestions(ctx, st, tr.start.Add(-time.Minute), tr.token)
	if err != nil {
		t.Logf("in flight at %s: %v", what, err)
		return
	}
	kinds := map[string]int{}
	running := 0
	for _, e := range execs {
		if !e.running() || e.fileStatus == string(filestatus.Quarantined) {
			continue
		}
		running++
		d, err := st.Temporal.DescribeWorkflowExecution(ctx, e.id, e.runID)
		if err != nil {
			continue
		}
		for _, a := range d.PendingActivities {
			kinds[a.ActivityType.GetName()+" "+strings.ToLower(strings.TrimPrefix(a.State.String(), "PENDING_ACTIVITY_STATE_"))]++
		}
		if wt := d.GetPendingWorkflowTask(); wt != nil && wt.State == enumspb.PENDING_WORKFLOW_TASK_STATE_STARTED {
			kinds["workflow task started"]++
		}
	}
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range kinds {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%s %d", k, kinds[k]))
	}
	t.Logf("in flight at %s: %d of %d workflows running (%s)", what, running, len(execs), strings.Join(parts, ", "))
}

// logEventsInFlight says what the bridge had yet to acknowledge at a
// kill: the events MinIO keeps in its queue directory until the webhook
// answers, and the SQS messages received and not yet deleted.
func logEventsInFlight(t *testing.T, st *stacktest.Stack, queue, what string) {
	t.Helper()
	queued, err := os.ReadDir(filepath.Join(filepath.Dir(st.Env["FERRY_NOTIFICATIONS_FILE"]), "minio-events", "minio-webhook-FERRY"))
	minio := fmt.Sprint(len(queued))
	if err != nil {
		minio = err.Error()
	}
	sqsState := ""
	attrs, err := st.AWS.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queue),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err == nil {
		sqsState = fmt.Sprintf("%s messages on the queue, %s of them received and not yet deleted", attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)],
			attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	} else {
		sqsState = err.Error()
	}
	t.Logf("events in flight at %s: MinIO's webhook queue holds %s; SQS: %s", what, minio, sqsState)
}

// faultChecker is the checker for a test's traffic.
func faultChecker(st *stacktest.Stack, tr *traffic, want map[string]expectation) *checker {
	return newChecker(st, tr.token, tr.start.Add(-time.Minute), want)
}

// runServerOutage is the shape of the three server faults: traffic, the
// server stopped for outageFor while files are in flight, then every
// invariant of every file.
func runServerOutage(t *testing.T, p stacktest.Process) {
	st := stacktest.Require(t, stacktest.Ferry)
	plan := faultPlan()
	tr := startTraffic(t, st, plan)
	putLarges(t, tr, plan.large-1)
	tr.waitStarted(t, plan.small/4)
	// The fault meets a multipart copy under way, of a file of 8 parts.
	waitCopying(t, st, tr.putLarge(t, "acme", "s3", largeSize(st, 6)))
	logInFlight(t, st, tr, "the fault")
	ended := outage(t, st, p, outageFor)
	tr.finish(t)
	settle(t, faultChecker(st, tr, tr.expectations()), ended, settleWithin)
}

// MinIO (S3, SFTP and the landing bucket's events) stopped for 30 s:
// inspections, copies and partners' uploads fail meanwhile and must be
// retried, the events MinIO queued must reach the bridge afterwards.
func TestFaultMinIOStopped(t *testing.T) {
	runServerOutage(t, stacktest.MinIOProcess)
}

// DynamoDB (dynalite) stopped for 30 s: every record and audit write
// waits and is retried until it is written.
func TestFaultDynamoDBStopped(t *testing.T) {
	runServerOutage(t, stacktest.DynamoDBProcess)
}

// The Temporal server stopped for 30 s, its SQLite file kept: the bridge
// answers 503 and MinIO keeps the events; the worker's running activities
// and workflow tasks cannot report; both reconnect.
func TestFaultTemporalStopped(t *testing.T) {
	runServerOutage(t, stacktest.TemporalProcess)
}

// The bridge SIGKILLed (no shutdown at all) at random moments, on both of
// its sources at once: MinIO's webhook (whose queue keeps what the bridge
// did not acknowledge) and SQS (whose messages come back after their
// visibility timeout). The reconciler is paused: every file must be
// started by its own event, so an event acknowledged but not started
// would be a file lost.
func TestFaultBridgeKilled(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	pauseReconciler(t, st)
	plan := faultPlan()

	// The SQS files land with landing's notifications off, so only their
	// SQS messages announce them; then the webhook's files stream in over
	// SFTP and the S3 API. One prefix for both: one checker.
	web := newTraffic(t, st)
	sqsFiles := plan.small / 2
	var kv []string
	for i := range sqsFiles {
		p := trafficPartners[i%len(trafficPartners)]
		name := fmt.Sprintf("%s-%04d-sqs.csv", web.token, i)
		body := fmt.Sprintf("id,qty\n%d,%s\n", i, web.token)
		if st.Config.Partners[p].Rules.Sidecar.Required {
			sum := sha256.Sum256([]byte(body))
			kv = append(kv, p+"/inbound/"+name+".sha256", hex.EncodeToString(sum[:])+"  "+name+"\n")
		}
		kv = append(kv, p+"/inbound/"+name, body)
	}
	puts := putSilently(t, st, kv...)
	want := map[string]expectation{}
	var msgs []string
	for i, put := range puts {
		key, body := kv[2*i], kv[2*i+1]
		if strings.HasSuffix(key, ".sha256") {
			continue // a sidecar: no event, not a file
		}
		p, _, _ := strings.Cut(key, "/")
		o := object{key: key, version: aws.ToString(put.VersionId), etag: strings.Trim(aws.ToString(put.ETag), `"`), size: int64(len(body))}
		msgs = append(msgs, messages(t, o)["s3"])
		sum := sha256.Sum256([]byte(body))
		want[key] = expectation{partner: p, status: filestatus.Delivered, sha256: hex.EncodeToString(sum[:]), size: o.size, via: "sqs", source: "sqs/s3"}
	}
	web.release(t, trafficPlan{small: plan.small - sqsFiles, over: plan.over})

	// SQS messages, sent at the same pace as the uploads.
	queue, err := bridge.ResolveQueue(context.Background(), st.AWS.SQS, st.Config.Bridge.SQS.Queue)
	if err != nil {
		t.Fatal(err)
	}
	var sent sync.WaitGroup
	sendErrs := make(chan error, len(msgs))
	sent.Add(1)
	go func() {
		defer sent.Done()
		every := plan.over / time.Duration(len(msgs))
		for _, m := range msgs {
			if _, err := st.AWS.SQS.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(m)}); err != nil {
				sendErrs <- err
			}
			time.Sleep(every)
		}
	}()

	putLarges(t, web, plan.large)
	// Killed at random moments while the stream lasts; stack.sh up
	// starts it again each time.
	var ended time.Time
	kills := 0
	for until := web.start.Add(plan.over); kills == 0 || time.Now().Before(until); {
		time.Sleep(time.Duration(1000+mrand.IntN(4000)) * time.Millisecond)
		kills++
		logEventsInFlight(t, st, queue, fmt.Sprintf("bridge kill %d", kills))
		st.Kill(t, stacktest.Bridge)
		st.Up(t)
		ended = time.Now()
	}
	t.Logf("killed the bridge %d times", kills)
	sent.Wait()
	close(sendErrs)
	for err := range sendErrs {
		t.Errorf("sending an SQS message: %v", err)
	}
	web.finish(t)

	for k, w := range web.expectations() {
		w.source = "http/s3" // MinIO's webhook
		want[k] = w
	}
	settle(t, faultChecker(st, web, want), ended, settleWithin)
}

// The worker SIGKILLed again and again: first at moments chosen so each
// step is surely in flight — an inspection (clamd paused, so the scan
// waits), a multipart copy (its upload heartbeated), a record write
// (dynalite paused) and a notification (the webhook's receiver paused) —
// then at random moments for the rest of the loop. Each time stack.sh up
// starts a new worker.
func TestFaultWorkerChaos(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	plan := faultPlan()
	// The stream lasts through the targeted kills and the random ones.
	plan.over += chaosFor() + 30*time.Second
	tr := startTraffic(t, st, plan)
	ctx := context.Background()
	kills := 0
	kill := func(during string) {
		t.Helper()
		logInFlight(t, st, tr, "the kill during "+during)
		st.Kill(t, stacktest.Worker)
		kills++
	}

	// During inspection: clamd stalls every scan.
	resume := st.Pause(t, stacktest.ClamdProcess)
	waitPending(t, st, tr, "an inspection", func(d *describeInfo) bool { return d.activityStarted(activities.InspectName) })
	kill("inspection")
	resume()
	st.Up(t)

	// During a multipart copy: a file of several parts, killed once its
	// upload ID is heartbeated (before or while its parts are copied).
	waitCopying(t, st, tr.putLarge(t, "acme", "s3", largeSize(st, 6)))
	kill("a multipart copy")
	st.Up(t)

	// During a record write: dynalite stalls every write, so a workflow
	// task stays started in its RecordStatus local activity.
	resume = st.Pause(t, stacktest.DynamoDBProcess)
	waitPending(t, st, tr, "a record write", func(d *describeInfo) bool { return d.taskStartedFor(2 * time.Second) })
	kill("a record write")
	resume()
	st.Up(t)

	// During a notification: the webhook's receiver stalls, so a workflow
	// whose record is already final sits in its Notify local activity.
	resume = st.Pause(t, stacktest.WebhookSinkProcess)
	records := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable)
	waitPending(t, st, tr, "a notification", func(d *describeInfo) bool {
		if !d.taskStartedFor(2 * time.Second) {
			return false
		}
		rec, err := records.Get(ctx, d.id)
		return err == nil && (rec.Status == filestatus.Delivered || rec.Status == filestatus.Quarantined)
	})
	kill("a notification")
	resume()
	st.Up(t)

	// Then at random.
	for until := time.Now().Add(chaosFor()); time.Now().Before(until); {
		time.Sleep(time.Duration(500+mrand.IntN(4000)) * time.Millisecond)
		kill("a random moment")
		st.Up(t)
	}
	ended := time.Now()
	t.Logf("killed the worker %d times", kills)
	tr.finish(t)
	settle(t, faultChecker(st, tr, tr.expectations()), ended, settleWithin)
}

// waitCopying waits until u's multipart copy has begun: its Deliver
// activity heartbeated the upload ID (before it copies the first part).
// u is an S3 API upload, whose version is known.
func waitCopying(t *testing.T, st *stacktest.Stack, u *upload) {
	t.Helper()
	id := fileid.WorkflowID(u.partner, st.Config.Landing.Bucket, u.key(), u.versionID)
	stacktest.Eventually(t, 3*time.Minute, func() (bool, string) {
		d, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			return false, err.Error()
		}
		if d.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("%s's workflow closed (%s) before its multipart copy was seen", u.key(), d.WorkflowExecutionInfo.Status)
		}
		for _, pa := range d.PendingActivities {
			var p activities.CopyProgress
			if pa.ActivityType.GetName() == activities.DeliverName && pa.HeartbeatDetails != nil &&
				converter.GetDefaultDataConverter().FromPayloads(pa.HeartbeatDetails, &p) == nil && p.UploadID != "" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%s's multipart copy has not heartbeated its upload yet", u.key())
	})
}

// describeInfo is a running workflow of the test as DescribeWorkflowExecution shows it.
type describeInfo struct {
	id       string
	pending  map[string]enumspb.PendingActivityState
	taskFrom time.Time // when its started workflow task started; zero when none is
}

func (d *describeInfo) activityStarted(name string) bool {
	return d.pending[name] == enumspb.PENDING_ACTIVITY_STATE_STARTED
}

func (d *describeInfo) taskStartedFor(least time.Duration) bool {
	return !d.taskFrom.IsZero() && time.Since(d.taskFrom) >= least
}

// waitPending waits until one of the test's running workflows is in the
// state cond looks for.
func waitPending(t *testing.T, st *stacktest.Stack, tr *traffic, what string, cond func(*describeInfo) bool) {
	t.Helper()
	ctx := context.Background()
	stacktest.Eventually(t, 3*time.Minute, func() (bool, string) {
		execs, err := listIngestions(ctx, st, tr.start.Add(-time.Minute), tr.token)
		if err != nil {
			return false, err.Error()
		}
		running := 0
		for _, e := range execs {
			if !e.running() {
				continue
			}
			running++
			d, err := st.Temporal.DescribeWorkflowExecution(ctx, e.id, e.runID)
			if err != nil {
				continue
			}
			info := &describeInfo{id: e.id, pending: map[string]enumspb.PendingActivityState{}}
			for _, a := range d.PendingActivities {
				info.pending[a.ActivityType.GetName()] = a.State
			}
			if wt := d.GetPendingWorkflowTask(); wt != nil && wt.State == enumspb.PENDING_WORKFLOW_TASK_STATE_STARTED {
				info.taskFrom = wt.StartedTime.AsTime()
			}
			if cond(info) {
				t.Logf("%s is in flight in %s", what, e.id)
				return true, ""
			}
		}
		return false, fmt.Sprintf("no workflow in %s yet (%d of %d running)", what, running, len(execs))
	})
}

// A quarantined file waits through a Temporal restart while its timers
// come due: initech reminds every second and escalates at 10 s, and
// Temporal is down from its first reminder for 30 s. Afterwards the
// escalation happened once, the reminders are numbered without gap or
// repeat, and the escalation approver's approval delivers it.
func TestFaultQuarantineTimersThroughTemporalRestart(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	plan := faultPlan()
	tr := startTraffic(t, st, plan)
	ctx := context.Background()

	held := tr.file(t, "initech", "s3", filestatus.Delivered, func(w io.Writer) error {
		_, err := w.Write([]byte("MZ\x90\x00\x03 initech's tool, released by its escalation approver"))
		return err
	})
	if err := tr.s3Put(held); err != nil {
		t.Fatal(err)
	}
	id := fileid.WorkflowID("initech", st.Config.Landing.Bucket, held.key(), held.versionID)
	waitStarted(t, st, id, time.Minute)
	waitStage(t, st, id, filestatus.Quarantined)
	notification(t, st, id, "file.reminder")
	if st.Count(t, fmt.Sprintf("WorkflowId = %q AND ExecutionStatus = 'Running'", id)) != 1 {
		t.Fatal("the held file is not waiting")
	}
	if early, err := faultChecker(st, tr, nil).notifications(map[string]bool{id: true}); err != nil || len(early[id]["file.escalated"]) > 0 {
		t.Fatalf("the held file escalated before Temporal was stopped (%v): the test must stop Temporal before the deadline", err)
	}
	logInFlight(t, st, tr, "the fault")
	ended := outage(t, st, stacktest.TemporalProcess, outageFor)

	// The deadline passed while Temporal was down: it escalates now.
	notification(t, st, id, "file.escalated")
	signal(t, st, id, "approve", "frank", "escalated to me after the restart: released")
	if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered after frank's escalated approval", res)
	}
	tr.finish(t)
	settle(t, faultChecker(st, tr, tr.expectations()), ended, settleWithin)

	// Timers came due once each: one escalation, reminders 1..n.
	notes, err := faultChecker(st, tr, nil).notifications(map[string]bool{id: true})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, n := range notes[id]["file.escalated"] {
		keys[n.IdempotencyKey] = true
	}
	if len(keys) != 1 {
		t.Errorf("escalated under %d idempotency keys %v, want 1", len(keys), keys)
	}
	var seqs []int
	seen := map[int]bool{}
	for _, n := range notes[id]["file.reminder"] {
		if s := n.Notification.Sequence; !seen[s] {
			seen[s] = true
			seqs = append(seqs, s)
		}
	}
	sort.Ints(seqs)
	for i, s := range seqs {
		if s != i+1 {
			t.Errorf("reminders numbered %v: want 1..%d without gap or repeat", seqs, len(seqs))
			break
		}
	}
	t.Logf("the held file got %d reminders and one escalation through the restart", len(seqs))
	trail, err := (&audit.Store{DB: st.AWS.DynamoDB, Table: st.Config.DynamoDB.AuditTable}).List(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(actions(trail), "escalate"); n != 1 {
		t.Errorf("the audit trail escalates %d times, want once: %s", n, actions(trail))
	}
}
