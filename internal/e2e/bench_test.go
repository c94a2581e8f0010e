//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/api/enums/v1"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/stacktest"
)

var ingestMiB = flag.Int64("ingest-mib", 1024, "size in MiB of BenchmarkIngestLargeObject's object")

// BenchmarkIngestLargeObject measures Ferry's ingest of one large text
// object by the local stack's bridge and worker against baselines measured
// in the same run, interleaved iteration by iteration (the machines are
// shared: one sample is noise), and reports the medians of the iterations:
//
//   - inspect ÷ bare GET+SHA-256: what the one-pass inspection costs over
//     the least any checksumming reader must do (goal ≤ 1.15);
//   - ingest (object written to delivered) ÷ (bare GET+SHA-256 + bare
//     CopyObject) (goal ≤ 1.2), and the same for the workflow alone;
//   - bytes the worker process read ÷ object size, from /proc/<pid>/io, so
//     independent of Ferry's own counters (goal 1.0);
//   - the worker's peak resident memory during the ingests (goal < 150 MiB).
//
// Figures only, never pass/fail:
//
//	go test -tags e2e -run '^$' -bench IngestLargeObject -benchtime 3x -timeout 30m ./internal/e2e/
//
// (-args -ingest-mib 64 for a quick look; ns/op says nothing and is 0.)
func BenchmarkIngestLargeObject(b *testing.B) {
	st := stacktest.Require(b, stacktest.Ferry)
	pid := st.PID(b, stacktest.Worker)
	size := *ingestMiB << 20
	scratch := st.Bucket(b, false) // no notifications: holds the baseline object
	name := stacktest.Unique("bench-") + ".csv"
	b.Logf("writing a %d MiB text object", *ingestMiB)
	putText(b, st, scratch, name, size)

	var get, getSHA, copyObj, inspect, deliver, workflow, ingest, event []float64
	var readBytes int64
	var peakRSS float64
	for i := 0; b.Loop(); i++ {
		get = append(get, timeGET(b, st, scratch, name, false))
		getSHA = append(getSHA, timeGET(b, st, scratch, name, true))
		copyObj = append(copyObj, timeCopy(b, st, scratch, name, st.Config.Partners["acme"].Governance))
		m := ingestOnce(b, st, pid, scratch, name, i)
		inspect, deliver, workflow = append(inspect, m.inspect), append(deliver, m.deliver), append(workflow, m.workflow)
		ingest, event = append(ingest, m.ingest), append(event, m.event)
		readBytes, peakRSS = max(readBytes, m.readBytes), max(peakRSS, m.peakRSS)
	}

	gbps := func(sec float64) float64 { return float64(size) / sec / 1e9 }
	baseline := stacktest.Median(getSHA) + stacktest.Median(copyObj)
	for _, f := range []struct {
		value float64
		unit  string
	}{
		{stacktest.Median(get), "GET-s"},
		{gbps(stacktest.Median(get)), "GET-GB/s"},
		{stacktest.Median(getSHA), "GET+SHA256-s"},
		{gbps(stacktest.Median(getSHA)), "GET+SHA256-GB/s"},
		{stacktest.Median(copyObj), "CopyObject-s"},
		{stacktest.Median(inspect), "inspect-s"},
		{gbps(stacktest.Median(inspect)), "inspect-GB/s"},
		{stacktest.Median(deliver), "deliver-s"},
		{stacktest.Median(event), "written-to-started-s"},
		{stacktest.Median(workflow), "workflow-s"},
		{stacktest.Median(ingest), "written-to-delivered-s"},
		{stacktest.Median(inspect) / stacktest.Median(getSHA), "inspect/(GET+SHA256)"},
		{stacktest.Median(ingest) / baseline, "ingest/(GET+SHA256+CopyObject)"},
		{stacktest.Median(workflow) / baseline, "workflow/(GET+SHA256+CopyObject)"},
		{float64(readBytes) / float64(size), "worker-read/size"},
		{peakRSS / (1 << 20), "worker-peak-RSS-MiB"},
		{0, "ns/op"}, // an iteration is a whole ingest and its baselines
	} {
		b.ReportMetric(f.value, f.unit)
	}
}

type measured struct {
	inspect, deliver, workflow, ingest, event float64
	readBytes                                 int64
	peakRSS                                   float64
}

// ingestOnce copies the bench object into acme's landing prefix — the
// ObjectCreated:Copy event reaches the bridge like an upload's — and
// measures the ingest the running worker performs.
func ingestOnce(b *testing.B, st *stacktest.Stack, pid int, scratch, name string, run int) measured {
	b.Helper()
	var m measured
	ctx := context.Background()
	key := fmt.Sprintf("acme/inbound/run%d-%s", run, name)
	ioBefore := workerRead(b, pid)
	peak := sampleRSS(pid)
	defer peak() // stops the sampler on early returns too
	landing := st.Config.Landing.Bucket
	put, err := st.AWS.S3.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(landing), Key: aws.String(key), CopySource: aws.String(scratch + "/" + name)})
	if err != nil {
		b.Fatalf("copying into landing: %v", err)
	}
	// The object exists and its event is on its way: the ingest starts now.
	start := time.Now()
	acme := st.Config.Partners["acme"].Destination
	defer st.RemoveVersions(b, landing, key)
	defer st.RemoveVersions(b, acme.Bucket, acme.Prefix+strings.TrimPrefix(key, "acme/inbound/"))
	id := fileid.WorkflowID("acme", landing, key, aws.ToString(put.VersionId))
	waitStarted(b, st, id, time.Minute)
	res := waitResult(b, st, id)
	m.ingest = time.Since(start).Seconds()
	m.peakRSS = peak()
	m.readBytes = workerRead(b, pid) - ioBefore
	if res.Status != filestatus.Delivered {
		b.Fatalf("the bench file ended %s: %v", res.Status, res.Reasons)
	}
	m.inspect, m.deliver = activityTimes(b, st, id)
	desc, err := st.Temporal.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		b.Fatal(err)
	}
	info := desc.WorkflowExecutionInfo
	m.workflow = info.CloseTime.AsTime().Sub(info.StartTime.AsTime()).Seconds()
	m.event = info.StartTime.AsTime().Sub(start).Seconds()
	return m
}

// timeCopy times a bare server-side CopyObject, encrypted like acme's
// deliveries so the comparison is like for like.
func timeCopy(b *testing.B, st *stacktest.Stack, bucket, name string, gov governance.Policy) float64 {
	b.Helper()
	in := &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copy-" + name), CopySource: aws.String(bucket + "/" + name)}
	if gov.Encryption == governance.SSEKMS {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(gov.KMSKeyID)
	}
	start := time.Now()
	if _, err := st.AWS.S3.CopyObject(context.Background(), in); err != nil {
		b.Fatalf("bare CopyObject: %v", err)
	}
	took := time.Since(start).Seconds()
	st.RemoveVersions(b, bucket, aws.ToString(in.Key))
	return took
}

// timeGET times a streamed GET of the object, through SHA-256 if asked.
func timeGET(b *testing.B, st *stacktest.Stack, bucket, key string, hash bool) float64 {
	b.Helper()
	start := time.Now()
	obj, err := st.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		b.Fatal(err)
	}
	defer obj.Body.Close()
	var w io.Writer = io.Discard
	if hash {
		w = sha256.New()
	}
	if _, err := io.CopyBuffer(w, obj.Body, make([]byte, 1<<20)); err != nil {
		b.Fatal(err)
	}
	return time.Since(start).Seconds()
}

// textReader yields size bytes of CSV text without holding them in memory.
type textReader struct{ left int64 }

func (t *textReader) Read(p []byte) (int, error) {
	if t.left <= 0 {
		return 0, io.EOF
	}
	const line = "lot,0000123,assay,98.7,passed,2026-11-24T06:00:00Z\n"
	n := 0
	for n < len(p) && int64(n) < t.left {
		n += copy(p[n:min(len(p), n+int(min(t.left-int64(n), int64(len(line)))))], line)
	}
	t.left -= int64(n)
	return n, nil
}

// putText writes size bytes of text under key, from a file so the SDK
// can send it with its length.
func putText(b testing.TB, st *stacktest.Stack, bucket, key string, size int64) {
	b.Helper()
	f, err := os.CreateTemp(b.TempDir(), "ferry-bench-*")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, &textReader{left: size}); err != nil {
		b.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		b.Fatal(err)
	}
	if _, err := st.AWS.S3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f, ContentLength: aws.Int64(size)}); err != nil {
		b.Fatalf("putting the bench object: %v", err)
	}
}

// activityTimes reads the Inspect and Deliver activities' durations
// (started to completed) from the workflow's history.
func activityTimes(b *testing.B, st *stacktest.Stack, id string) (inspect, deliver float64) {
	b.Helper()
	started := map[int64]time.Time{}
	kind := map[int64]string{}
	it := st.Temporal.GetWorkflowHistory(context.Background(), id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			b.Fatal(err)
		}
		switch ev.EventType {
		case enums.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			kind[ev.EventId] = ev.GetActivityTaskScheduledEventAttributes().ActivityType.GetName()
		case enums.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			started[ev.GetActivityTaskStartedEventAttributes().ScheduledEventId] = ev.EventTime.AsTime()
		case enums.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			a := ev.GetActivityTaskCompletedEventAttributes()
			d := ev.EventTime.AsTime().Sub(started[a.ScheduledEventId]).Seconds()
			switch kind[a.ScheduledEventId] {
			case activities.InspectName:
				inspect = d
			case activities.DeliverName:
				deliver = d
			}
		}
	}
	if inspect == 0 {
		b.Fatalf("no completed Inspect activity in the history of %s", id)
	}
	return inspect, deliver
}

// workerRead is the bytes the process has read through read syscalls,
// sockets included (/proc/<pid>/io rchar).
func workerRead(b *testing.B, pid int) int64 {
	b.Helper()
	n, err := rchar(pid)
	if err != nil {
		b.Fatalf("reading /proc/%d/io: %v", pid, err)
	}
	return n
}

func rchar(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "rchar: "); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no rchar line")
}

// sampleRSS samples the process's resident memory every 20 ms until the
// returned function is called, which returns the largest sample in bytes.
func sampleRSS(pid int) func() float64 {
	var mu sync.Mutex
	var peak float64
	var once sync.Once
	done := make(chan struct{})
	go func() {
		for {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
						kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
						mu.Lock()
						peak = max(peak, kb*1024)
						mu.Unlock()
					}
				}
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		once.Do(func() { close(done) })
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}
