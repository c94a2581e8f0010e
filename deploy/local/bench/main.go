// Command bench measures Ferry's ingest of one large object on the local
// stack against baselines measured in the same run (make bench):
//
//   - inspect ÷ bare GET+SHA-256: what the one-pass inspection costs over
//     the least any checksumming reader must do (goal ≤ 1.15);
//   - ingest (event to delivered) ÷ (bare GET+SHA-256 + bare CopyObject)
//     (goal ≤ 1.2);
//   - bytes the worker process read ÷ object size, from /proc/<pid>/io, so
//     independent of Ferry's own counters (goal 1.0);
//   - the worker's peak resident memory during the ingest (goal < 150 MiB).
//
// Timings are reported, never asserted: the machines are shared and noisy.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/governance"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type results struct {
	SizeBytes         int64   `json:"sizeBytes"`
	BareGETSeconds    float64 `json:"bareGetSeconds"`
	GETSHA256Seconds  float64 `json:"getSha256Seconds"`
	CopyObjectSeconds float64 `json:"copyObjectSeconds"`
	InspectSeconds    float64 `json:"inspectSeconds"`
	DeliverSeconds    float64 `json:"deliverSeconds"`
	IngestSeconds     float64 `json:"ingestSeconds"`
	WorkflowSeconds   float64 `json:"workflowSeconds"`
	EventSeconds      float64 `json:"eventToStartSeconds"`
	WorkerReadBytes   int64   `json:"workerReadBytes"`
	WorkerPeakRSSMiB  float64 `json:"workerPeakRssMiB"`
	InspectRatio      float64 `json:"inspectOverGetSha256"`
	IngestRatio       float64 `json:"ingestOverGetSha256PlusCopy"`
	ReadRatio         float64 `json:"workerReadOverSize"`
	WorkflowRatio     float64 `json:"workflowOverGetSha256PlusCopy"`
	Runs              int     `json:"runs"`
}

type measured struct {
	id                                        string
	inspect, deliver, workflow, ingest, event float64
	readBytes                                 int64
	peakRSS                                   float64
}

// ingestOnce copies the bench object into acme's landing prefix — the
// ObjectCreated:Copy event reaches the bridge like an upload's — and
// measures the ingest the running worker performs.
func ingestOnce(ctx context.Context, s3c *s3.Client, tc client.Client, cfg *config.Config, pid int, scratch, name string, run int) (measured, error) {
	var m measured
	key := fmt.Sprintf("acme/inbound/run%d-%s", run, name)
	ioBefore, err := readBytes(pid)
	if err != nil {
		return m, err
	}
	peak := sampleRSS(pid)
	defer peak() // stops the sampler on early returns too
	if _, err := s3c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(cfg.Landing.Bucket), Key: aws.String(key), CopySource: aws.String(scratch + "/" + name)}); err != nil {
		return m, fmt.Errorf("copying into landing: %w", err)
	}
	// The object exists and its event is on its way: the ingest starts now.
	start := time.Now()
	acme := cfg.Partners["acme"].Destination
	defer removeVersions(ctx, s3c, cfg.Landing.Bucket, key)
	defer removeVersions(ctx, s3c, acme.Bucket, acme.Prefix+strings.TrimPrefix(key, "acme/inbound/"))
	if m.id, err = findWorkflow(ctx, tc, key); err != nil {
		return m, err
	}
	var res ingest.Result
	if err := tc.GetWorkflow(ctx, m.id, "").Get(ctx, &res); err != nil {
		return m, fmt.Errorf("workflow %s: %w", m.id, err)
	}
	m.ingest = time.Since(start).Seconds()
	m.peakRSS = peak()
	ioAfter, err := readBytes(pid)
	if err != nil {
		return m, err
	}
	m.readBytes = ioAfter - ioBefore
	if res.Status != "delivered" {
		return m, fmt.Errorf("the bench file ended %s: %v", res.Status, res.Reasons)
	}
	if m.inspect, m.deliver, err = activityTimes(ctx, tc, m.id); err != nil {
		return m, err
	}
	desc, err := tc.DescribeWorkflowExecution(ctx, m.id, "")
	if err != nil {
		return m, err
	}
	info := desc.WorkflowExecutionInfo
	m.workflow = info.CloseTime.AsTime().Sub(info.StartTime.AsTime()).Seconds()
	m.event = info.StartTime.AsTime().Sub(start).Seconds()
	return m, nil
}

// timeCopy times a bare server-side CopyObject, encrypted like acme's
// deliveries so the comparison is like for like.
func timeCopy(ctx context.Context, c *s3.Client, bucket, name string, gov governance.Policy) (float64, error) {
	in := &s3.CopyObjectInput{Bucket: aws.String(bucket), Key: aws.String("copy-" + name), CopySource: aws.String(bucket + "/" + name)}
	if gov.Encryption == governance.SSEKMS {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(gov.KMSKeyID)
	}
	start := time.Now()
	if _, err := c.CopyObject(ctx, in); err != nil {
		return 0, fmt.Errorf("bare CopyObject: %w", err)
	}
	return time.Since(start).Seconds(), nil
}

func median(xs []float64) float64 {
	s := append([]float64{}, xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func run() error {
	sizeMiB := flag.Int64("size-mib", 1024, "object size in MiB")
	pidFile := flag.String("worker-pid-file", ".ferry/run/worker.pid", "the stack's worker pid file")
	out := flag.String("out", ".ferry/bench/last.json", "where to write the figures as JSON")
	runs := flag.Int("runs", 3, "how many times to measure each figure (the median is reported)")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	cfg, err := config.Load(nil)
	if err != nil {
		return err
	}
	ctx := context.Background()
	cl, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	tc, err := temporalclient.Dial(cfg.Temporal, slog.Default())
	if err != nil {
		return err
	}
	defer tc.Close()
	pid, err := readPID(*pidFile)
	if err != nil {
		return err
	}
	s3c := cl.S3
	size := *sizeMiB << 20
	r := results{SizeBytes: size, Runs: *runs}
	var id string

	// A scratch bucket without notifications holds the baseline object.
	scratch := fmt.Sprintf("ferry-bench-%d", time.Now().UnixNano())
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(scratch)}); err != nil {
		return fmt.Errorf("creating %s: %w", scratch, err)
	}
	defer cleanBucket(ctx, s3c, scratch)
	name := fmt.Sprintf("bench-%d.csv", time.Now().UnixNano())
	fmt.Printf("writing a %d MiB text object...\n", *sizeMiB)
	if err := putText(ctx, s3c, scratch, name, size); err != nil {
		return err
	}

	// Baselines and ingests interleave, run after run, and medians are
	// reported: these machines are shared and one sample is noise.
	var get, getSHA, cp, insp, del, wf, ingest, event []float64
	for i := range *runs {
		fmt.Printf("run %d of %d...\n", i+1, *runs)
		d, err := timeGET(ctx, s3c, scratch, name, false)
		if err != nil {
			return err
		}
		get = append(get, d)
		if d, err = timeGET(ctx, s3c, scratch, name, true); err != nil {
			return err
		}
		getSHA = append(getSHA, d)
		if d, err = timeCopy(ctx, s3c, scratch, name, cfg.Partners["acme"].Governance); err != nil {
			return err
		}
		cp = append(cp, d)
		m, err := ingestOnce(ctx, s3c, tc, cfg, pid, scratch, name, i)
		if err != nil {
			return err
		}
		insp, del, wf, ingest = append(insp, m.inspect), append(del, m.deliver), append(wf, m.workflow), append(ingest, m.ingest)
		event = append(event, m.event)
		r.WorkerReadBytes = max(r.WorkerReadBytes, m.readBytes)
		r.WorkerPeakRSSMiB = max(r.WorkerPeakRSSMiB, m.peakRSS/(1<<20))
		id = m.id
	}
	r.BareGETSeconds, r.GETSHA256Seconds, r.CopyObjectSeconds = median(get), median(getSHA), median(cp)
	r.InspectSeconds, r.DeliverSeconds, r.WorkflowSeconds, r.IngestSeconds = median(insp), median(del), median(wf), median(ingest)
	r.EventSeconds = median(event)
	r.InspectRatio = r.InspectSeconds / r.GETSHA256Seconds
	r.IngestRatio = r.IngestSeconds / (r.GETSHA256Seconds + r.CopyObjectSeconds)
	r.WorkflowRatio = r.WorkflowSeconds / (r.GETSHA256Seconds + r.CopyObjectSeconds)
	r.ReadRatio = float64(r.WorkerReadBytes) / float64(size)

	gbps := func(sec float64) string { return fmt.Sprintf("%.2f GB/s", float64(size)/sec/1e9) }
	fmt.Printf("\nFerry ingest of a %d MiB object on the local stack, median of %d runs (last workflow %s)\n\n", *sizeMiB, *runs, id)
	fmt.Printf("  %-44s %8.2f s  %s\n", "baseline: bare streamed GET", r.BareGETSeconds, gbps(r.BareGETSeconds))
	fmt.Printf("  %-44s %8.2f s  %s\n", "baseline: streamed GET + Go SHA-256", r.GETSHA256Seconds, gbps(r.GETSHA256Seconds))
	fmt.Printf("  %-44s %8.2f s\n", "baseline: bare server-side CopyObject", r.CopyObjectSeconds)
	fmt.Printf("  %-44s %8.2f s  %s\n", "Inspect activity (one read, all checks)", r.InspectSeconds, gbps(r.InspectSeconds))
	fmt.Printf("  %-44s %8.2f s\n", "Deliver activity (multipart copy, verify)", r.DeliverSeconds)
	fmt.Printf("  %-44s %8.2f s\n", "event delivery, object written to started", r.EventSeconds)
	fmt.Printf("  %-44s %8.2f s\n", "workflow, start to close", r.WorkflowSeconds)
	fmt.Printf("  %-44s %8.2f s\n", "ingest, object written to delivered", r.IngestSeconds)
	fmt.Printf("\n  %-44s %8.2f   (goal <= 1.15)\n", "inspect / (GET + SHA-256)", r.InspectRatio)
	fmt.Printf("  %-44s %8.2f   (goal <= 1.2)\n", "ingest / (GET + SHA-256 + CopyObject)", r.IngestRatio)
	fmt.Printf("  %-44s %8.2f   (the same without event delivery)\n", "workflow / (GET + SHA-256 + CopyObject)", r.WorkflowRatio)
	fmt.Printf("  %-44s %8.3f   (goal 1.0)\n", "bytes the worker read / object size", r.ReadRatio)
	fmt.Printf("  %-44s %8.1f MiB (goal < 150)\n", "worker peak RSS during the ingest", r.WorkerPeakRSSMiB)

	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	return os.WriteFile(*out, append(b, '\n'), 0o644)
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

func putText(ctx context.Context, c *s3.Client, bucket, key string, size int64) error {
	f, err := os.CreateTemp("", "ferry-bench-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := io.Copy(f, &textReader{left: size}); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: f, ContentLength: aws.Int64(size)})
	if err != nil {
		return fmt.Errorf("putting the bench object: %w", err)
	}
	return nil
}

func timeGET(ctx context.Context, c *s3.Client, bucket, key string, hash bool) (float64, error) {
	start := time.Now()
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, err
	}
	defer obj.Body.Close()
	var w io.Writer = io.Discard
	if hash {
		w = sha256.New()
	}
	if _, err := io.CopyBuffer(w, obj.Body, make([]byte, 1<<20)); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

func findWorkflow(ctx context.Context, tc client.Client, key string) (string, error) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("ObjectKey = %q", key)})
		if err != nil {
			return "", err
		}
		if len(resp.Executions) > 0 {
			return resp.Executions[0].Execution.WorkflowId, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", errors.New("no workflow started for the bench object within a minute: is the bridge running?")
}

// activityTimes reads the Inspect and Deliver activities' durations (started
// to completed) from the workflow's history.
func activityTimes(ctx context.Context, tc client.Client, id string) (inspect, deliver float64, err error) {
	started := map[int64]time.Time{}
	kind := map[int64]string{}
	it := tc.GetWorkflowHistory(ctx, id, "", false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return 0, 0, err
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
		return 0, 0, errors.New("no completed Inspect activity in the history")
	}
	return inspect, deliver, nil
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading the worker's pid (is the stack up? make run): %w", err)
	}
	return strconv.Atoi(strings.Fields(string(b))[0])
}

// readBytes is the bytes the process has read through read syscalls,
// sockets included (/proc/<pid>/io rchar).
func readBytes(pid int) (int64, error) {
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
	return 0, errors.New("no rchar in /proc/<pid>/io")
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

func removeVersions(ctx context.Context, c *s3.Client, bucket, key string) {
	vers, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	if err != nil {
		return
	}
	for _, v := range vers.Versions {
		_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId, BypassGovernanceRetention: aws.Bool(true)})
	}
}

func cleanBucket(ctx context.Context, c *s3.Client, bucket string) {
	for _, k := range []string{""} {
		removeVersions(ctx, c, bucket, k)
	}
	list, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if list != nil {
		for _, o := range list.Contents {
			_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key})
		}
	}
	_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
}
