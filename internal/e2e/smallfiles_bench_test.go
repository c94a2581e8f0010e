//go:build e2e

package e2e

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

var (
	smallFiles        = flag.Int("small-files", 300, "files (and floor workflows) per throughput run of BenchmarkSmallFiles")
	smallNaiveFiles   = flag.Int("small-naive-files", 100, "workflows of 5 regular activities per run of BenchmarkSmallFiles (they are slow)")
	smallLatencyFiles = flag.Int("small-latency-files", 40, "files sent one at a time for BenchmarkSmallFiles' latency")
)

// smallConcurrency is how many events (or floor starts) are in flight at
// once: the bridge's own bound on concurrent starts (bridge.max_concurrent_starts).
const smallConcurrency = 32

// BenchmarkSmallFiles measures what Ferry does with a stream of 1 KiB
// files on the local stack against what the same Temporal server does
// with workflows that do nothing, in the same run, interleaved iteration
// by iteration:
//
//   - files/s: 1 KiB CSV files of partner acme (scanned, SSE-KMS, Object
//     Lock retention, notified), their S3 events POSTed to the running
//     bridge as MinIO's webhook would, 32 at a time, until every workflow
//     has closed with the file delivered;
//   - floor/s: as many workflows of five no-op local activities, started
//     32 at a time by a worker in this process, until all have closed;
//     ferry/floor is the median of each iteration's ratio (the two run
//     back to back), and every run starts on a quiet stack;
//   - naive/s: workflows of five no-op regular activities, the same way;
//   - latency: files sent one at a time, event POSTed to workflow closed
//     (the file delivered and its notification sent), p50 and p99, beside
//     the floor workflow's;
//   - where the CPU goes: CPU milliseconds per file of each of the local
//     stack's processes (and of this one, which posts the events and runs
//     the floor's worker), from /proc, during the files/s runs and the
//     floor's, so a profile says which part to make cheaper.
//
// Figures only, never pass/fail (README, "Speed, measured"):
//
//	go test -tags e2e -run '^$' -bench SmallFiles -benchtime 5x -timeout 30m ./internal/e2e/
func BenchmarkSmallFiles(b *testing.B) {
	st := stacktest.Require(b, stacktest.Ferry)
	floor := startFloorWorker(b, st)
	prefix := stacktest.Unique("bench-small-")
	landing, dest := st.Config.Landing.Bucket, st.Config.Partners["acme"].Destination
	b.Cleanup(func() {
		st.RemoveVersions(b, landing, "acme/inbound/"+prefix)
		st.RemoveVersions(b, dest.Bucket, dest.Prefix+prefix)
	})

	procs := stackProcesses(b, st)
	var ferryRate, floorRate, naiveRate []float64
	ferryCPU, floorCPU := map[string][]float64{}, map[string][]float64{}
	var ratios []float64
	for i := 0; b.Loop(); i++ {
		// Each run starts on a quiet stack, so none pays for the work
		// the one before it left (close and visibility tasks, the
		// verifier's pass over its files).
		waitQuiet(b, procs)
		before := cpuTimes(b, procs)
		floorRate = append(floorRate, floor.rate(b, floorWorkflowName, *smallFiles))
		addPerFile(floorCPU, before, cpuTimes(b, procs), *smallFiles)
		waitQuiet(b, procs)
		naiveRate = append(naiveRate, floor.rate(b, naiveWorkflowName, *smallNaiveFiles))
		files := putSmallFiles(b, st, fmt.Sprintf("%s/run%d-", prefix, i), *smallFiles)
		waitQuiet(b, procs)
		before = cpuTimes(b, procs)
		ferryRate = append(ferryRate, ferryRateOf(b, st, files))
		addPerFile(ferryCPU, before, cpuTimes(b, procs), *smallFiles)
		// The floor and Ferry run back to back: their ratio is taken
		// per iteration, so a slower spell of the machine touches both.
		ratios = append(ratios, ferryRate[i]/floorRate[i])
	}
	var ferryLat, floorLat []float64
	files := putSmallFiles(b, st, prefix+"/latency-", *smallLatencyFiles)
	for _, f := range files {
		ferryLat = append(ferryLat, ferryLatency(b, st, f))
		floorLat = append(floorLat, floor.latency(b))
	}

	fr, fl, nv := stacktest.Median(ferryRate), stacktest.Median(floorRate), stacktest.Median(naiveRate)
	for _, f := range []struct {
		value float64
		unit  string
	}{
		{fr, "ferry-files/s"},
		{fl, "floor-5-local-activities-wf/s"},
		{nv, "naive-5-activities-wf/s"},
		{stacktest.Median(ratios), "ferry/floor"},
		{fr / nv, "ferry/naive"},
		{stacktest.Quantile(ferryLat, 0.5) * 1000, "ferry-latency-p50-ms"},
		{stacktest.Quantile(ferryLat, 0.99) * 1000, "ferry-latency-p99-ms"},
		{stacktest.Quantile(floorLat, 0.5) * 1000, "floor-latency-p50-ms"},
		{stacktest.Quantile(floorLat, 0.99) * 1000, "floor-latency-p99-ms"},
		{0, "ns/op"}, // an iteration is three whole runs
	} {
		b.ReportMetric(f.value, f.unit)
	}
	for name, ms := range ferryCPU {
		b.ReportMetric(stacktest.Median(ms), "cpu-ms/file-"+name)
	}
	for _, name := range []string{"temporal", benchProcess} {
		b.ReportMetric(stacktest.Median(floorCPU[name]), "floor-cpu-ms/wf-"+name)
	}
}

// benchProcess names this process in the CPU figures.
const benchProcess = "bench"

// stackProcesses are the PIDs of the local stack's processes, and this one.
func stackProcesses(b *testing.B, st *stacktest.Stack) map[string]int {
	b.Helper()
	procs := map[string]int{benchProcess: os.Getpid()}
	for _, p := range []stacktest.Process{"temporal", "worker", "bridge", "minio", "dynalite", "clamd", "webhooksink"} {
		procs[string(p)] = st.PID(b, p)
	}
	return procs
}

// cpuTimes reads each process's CPU time (user and system, its own and
// its reaped children's) in milliseconds from /proc/<pid>/stat.
func cpuTimes(b *testing.B, procs map[string]int) map[string]float64 {
	b.Helper()
	const ticksPerSecond = 100 // USER_HZ on Linux
	out := map[string]float64{}
	for name, pid := range procs {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatalf("reading the CPU time of %s: %v", name, err)
		}
		// Fields after the command, which may hold spaces: state is 3rd,
		// utime, stime, cutime, cstime the 14th to 17th.
		_, rest, _ := strings.Cut(string(raw), ") ")
		f := strings.Fields(rest)
		var ticks float64
		for _, v := range f[11:15] {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatalf("reading the CPU time of %s from %q: %v", name, raw, err)
			}
			ticks += n
		}
		out[name] = ticks * 1000 / ticksPerSecond
	}
	return out
}

// waitQuiet waits (untimed) until the local stack's processes together
// use less than 5% of a core over a second, for at most 30 seconds.
func waitQuiet(b *testing.B, procs map[string]int) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	const window, quiet = time.Second, 50 // ms of CPU per window
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		before := cpuTimes(b, procs)
		time.Sleep(window)
		var busy float64
		for name, ms := range cpuTimes(b, procs) {
			if name != benchProcess {
				busy += ms - before[name]
			}
		}
		if busy < quiet {
			return
		}
	}
	b.Logf("the stack did not quiet down within 30 s; measuring anyway")
}

// addPerFile appends each process's CPU milliseconds per file between two
// readings.
func addPerFile(into map[string][]float64, before, after map[string]float64, n int) {
	for name, ms := range after {
		into[name] = append(into[name], (ms-before[name])/float64(n))
	}
}

// smallFile is one 1 KiB object in landing, silently put: its event is
// the bench's to send.
type smallFile struct {
	landedFile
	etag string
}

// putSmallFiles puts n 1 KiB CSV files below acme/inbound/<prefix> with
// landing's notifications off, so only the bench's events start them.
func putSmallFiles(b *testing.B, st *stacktest.Stack, prefix string, n int) []smallFile {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	row := "4711,bench,42,2026-11-25T08:00:00Z\n" // 36 bytes
	body := "id,name,qty,at\n" + strings.Repeat(row, 28) + strings.Repeat("x", 1024-15-28*len(row)-1) + "\n"
	kb := make([]string, 0, 2*n)
	for i := range n {
		kb = append(kb, fmt.Sprintf("acme/inbound/%s%04d.csv", prefix, i), body)
	}
	puts := putSilently(b, st, kb...)
	files := make([]smallFile, n)
	for i, p := range puts {
		files[i] = smallFile{
			landedFile: landedFile{partner: "acme", key: kb[2*i], version: aws.ToString(p.VersionId), size: int64(len(body))},
			etag:       strings.Trim(aws.ToString(p.ETag), `"`),
		}
	}
	return files
}

// sendEvent POSTs f's S3 event notification to the bridge, as S3 does,
// and fails unless the bridge acknowledged it.
func sendEvent(b *testing.B, st *stacktest.Stack, f smallFile) {
	if _, _, err := postUntilAcknowledged(http.DefaultClient, st, s3Event(f.landedFile, f.etag)); err != nil {
		b.Errorf("%s: %v", f.key, err)
	}
}

// awaitDelivered waits for f's workflow to close and fails unless the
// file was delivered.
func awaitDelivered(b *testing.B, st *stacktest.Stack, f smallFile) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var res ingest.Result
	if err := st.Temporal.GetWorkflow(ctx, f.id(), "").Get(ctx, &res); err != nil {
		b.Errorf("%s: %v", f.key, err)
	} else if res.Status != filestatus.Delivered {
		b.Errorf("%s ended %s, want delivered: %v", f.key, res.Status, res.Reasons)
	}
}

// ferryRateOf sends every file's event, smallConcurrency at a time, and
// returns files per second until the last workflow closed.
func ferryRateOf(b *testing.B, st *stacktest.Stack, files []smallFile) float64 {
	b.Helper()
	start := time.Now()
	inParallel(len(files), func(i int) {
		sendEvent(b, st, files[i])
		awaitDelivered(b, st, files[i])
	})
	if b.Failed() {
		b.FailNow()
	}
	return float64(len(files)) / time.Since(start).Seconds()
}

// ferryLatency is one file's time from its event POSTed to its workflow
// closed, alone on the stack.
func ferryLatency(b *testing.B, st *stacktest.Stack, f smallFile) float64 {
	b.Helper()
	start := time.Now()
	sendEvent(b, st, f)
	awaitDelivered(b, st, f)
	if b.Failed() {
		b.FailNow()
	}
	return time.Since(start).Seconds()
}

// inParallel runs do(0..n-1), smallConcurrency at a time, each starting
// as soon as one before it finished.
func inParallel(n int, do func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, smallConcurrency) {
		wg.Go(func() {
			for i := range next {
				do(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

const (
	floorWorkflowName = "BenchFloor5LocalActivities"
	naiveWorkflowName = "BenchNaive5Activities"
)

// floorWorker runs the baselines' workflows on the local stack's Temporal
// server, on a task queue of their own, in this process.
type floorWorker struct {
	st    *stacktest.Stack
	queue string
	n     int
}

func startFloorWorker(b *testing.B, st *stacktest.Stack) *floorWorker {
	b.Helper()
	f := &floorWorker{st: st, queue: stacktest.Unique("bench-floor-")}
	w := worker.New(st.Temporal, f.queue, worker.Options{})
	w.RegisterWorkflowWithOptions(floorWorkflow, workflow.RegisterOptions{Name: floorWorkflowName})
	w.RegisterWorkflowWithOptions(naiveWorkflow, workflow.RegisterOptions{Name: naiveWorkflowName})
	w.RegisterActivity(noop)
	if err := w.Start(); err != nil {
		b.Fatalf("starting the baselines' worker: %v", err)
	}
	b.Cleanup(w.Stop)
	return f
}

// rate starts n workflows of the given name, smallConcurrency at a time,
// and returns workflows per second until the last closed.
func (f *floorWorker) rate(b *testing.B, name string, n int) float64 {
	b.Helper()
	start := time.Now()
	inParallel(n, func(int) { f.run(b, name) })
	if b.Failed() {
		b.FailNow()
	}
	return float64(n) / time.Since(start).Seconds()
}

// latency is one floor workflow's time from start to closed, alone.
func (f *floorWorker) latency(b *testing.B) float64 {
	b.Helper()
	start := time.Now()
	f.run(b, floorWorkflowName)
	if b.Failed() {
		b.FailNow()
	}
	return time.Since(start).Seconds()
}

func (f *floorWorker) run(b *testing.B, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run, err := f.st.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: f.queue}, name)
	if err == nil {
		err = run.Get(ctx, nil)
	}
	if err != nil {
		b.Errorf("%s: %v", name, err)
	}
}

// floorWorkflow is the least a workflow of five steps costs on this
// server: five local activities that do nothing.
func floorWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return fiveNoops(ctx, workflow.ExecuteLocalActivity)
}

// naiveWorkflow is the naive design: five regular activities that do
// nothing, each dispatched through the server.
func naiveWorkflow(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return fiveNoops(ctx, workflow.ExecuteActivity)
}

func fiveNoops(ctx workflow.Context, execute func(workflow.Context, any, ...any) workflow.Future) error {
	for range 5 {
		if err := execute(ctx, noop).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func noop(context.Context) error { return nil }
