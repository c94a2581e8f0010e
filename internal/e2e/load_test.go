//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The burst's sizes: make test runs the defaults, a shorter burst that
// still saturates the bridge; make load runs the full one (2,000 and 100;
// README, "Load").
var (
	loadS3Files   = flag.Int("load-s3-files", 1000, "small files TestLoadBurst puts through the S3 API")
	loadSFTPFiles = flag.Int("load-sftp-files", 40, "small files TestLoadBurst uploads over SFTP, in four partner sessions at once")
)

// httpSenders is how many event requests the burst keeps in flight at the
// bridge's webhook, as a notification service delivering a burst (an
// EventBridge API destination) does.
const httpSenders = 1000

// TestLoadBurstDeliversEveryFileOnceUnderBackPressure puts a burst of
// small files into the landing bucket through the S3 API, as fast as the
// test can, under three partners' prefixes, while four SFTP sessions of
// three partners upload more. MinIO's webhook announces them, but alone
// it cannot saturate the bridge: its queue directory is replayed one event
// at a time (internal/store in the pinned MinIO), so at most one request
// of it is ever in flight. So once the files are written, every S3 upload
// is announced again, all at once, as S3 would in AWS: its EventBridge
// event POSTed to the bridge's webhook (up to httpSenders requests in
// flight) and its S3 event put on the SQS queue. That is more events than
// the bridge starts in bridge.queue_wait at bridge.starts_per_second, so
// it must push back.
//
// Then: every file is delivered exactly once (runFolder.check), the
// bridge pushed back (503 with Retry-After; SQS starts waiting at its
// bound) and nothing was lost: the reconciler is paused, every HTTP event
// was acknowledged in the end, every SQS message deleted and none
// dead-lettered, and the SFTP files, which only MinIO's webhook announced,
// were all started by it.
func TestLoadBurstDeliversEveryFileOnceUnderBackPressure(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	pauseReconciler(t, st)
	ctx := context.Background()
	r := runFolder{st: st, name: stacktest.Unique("load-"), partners: []string{"acme", "globex", "initech"}}
	var mu sync.Mutex
	var files []landedFile
	r.cleanUp(t, idsOf(&mu, &files))
	// Twice what the bridge starts within bridge.queue_wait: fewer might
	// all be started in time, and show no back-pressure.
	if b := st.Config.Bridge; float64(min(*loadS3Files, httpSenders)) < 2*b.QueueWait.Seconds()*b.StartsPerSecond {
		t.Fatalf("-load-s3-files=%d: the burst must announce at least %.0f files at once (twice bridge.queue_wait %s × bridge.starts_per_second %g) to saturate the bridge",
			*loadS3Files, 2*b.QueueWait.Seconds()*b.StartsPerSecond, b.QueueWait, b.StartsPerSecond)
	}
	bridgeMetrics := "http://" + st.Config.Metrics.BridgeListen + metrics.Path
	before := scrape(t, bridgeMetrics)
	queueURL, err := bridge.ResolveQueue(ctx, st.AWS.SQS, st.Config.Bridge.SQS.Queue)
	if err != nil {
		t.Fatal(err)
	}

	// Four SFTP sessions of three partners at once, prepared before the
	// clock starts; globex vouches for each file with a sidecar, sent first.
	type session struct {
		partner string
		cmds    []string
		files   map[string][]byte // name → body
	}
	var sessions []session
	perSession := max(1, *loadSFTPFiles/4)
	for s, partner := range []string{"acme", "acme", "globex", "initech"} {
		dir := t.TempDir()
		ses := session{partner: partner, cmds: []string{"cd /landing/" + r.landingPrefix(partner)}, files: map[string][]byte{}}
		var sidecars, puts []string
		for i := range perSession {
			name := fmt.Sprintf("sftp-%d-%03d.csv", s, i)
			body := loadCSV(r.name+"/"+name, 1<<10)
			ses.files[name] = body
			if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
				t.Fatal(err)
			}
			puts = append(puts, "put "+filepath.Join(dir, name))
			if partner == "globex" {
				if err := os.WriteFile(filepath.Join(dir, name+".sha256"), sidecarLine(name, body), 0o600); err != nil {
					t.Fatal(err)
				}
				sidecars = append(sidecars, "put "+filepath.Join(dir, name+".sha256"))
			}
		}
		ses.cmds = append(append(ses.cmds, sidecars...), puts...)
		sessions = append(sessions, ses)
	}
	keys := map[string]string{}
	for _, p := range []string{"acme", "globex", "initech"} {
		keys[p] = st.PartnerKey(t, p)
	}

	errs := &errList{}
	events := newEventSender(st, queueURL, errs)
	var uploads sync.WaitGroup
	start := time.Now()
	for _, ses := range sessions {
		uploads.Add(1)
		go func() {
			defer uploads.Done()
			auth := []string{"-i", keys[ses.partner], "-oIdentitiesOnly=yes", "-oBatchMode=yes"}
			if out, err := sftpLogin(t, st, ses.partner, auth, nil, ses.cmds...); err != nil {
				errs.add(fmt.Errorf("sftp session of %s: %v\n%s", ses.partner, err, out))
			}
		}()
	}
	// The S3 burst: 32 uploads at a time.
	jobs := make(chan int)
	for range 32 {
		uploads.Add(1)
		go func() {
			defer uploads.Done()
			for i := range jobs {
				partner := r.partners[i%len(r.partners)]
				name := fmt.Sprintf("s3-%04d.csv", i)
				key := r.landingPrefix(partner) + name
				body := loadCSV(key, 1<<10)
				if partner == "globex" {
					if _, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(key + ".sha256"), Body: bytes.NewReader(sidecarLine(name, body))}); err != nil {
						errs.add(fmt.Errorf("putting the sidecar of %s: %w", key, err))
						continue
					}
				}
				put, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(key), Body: bytes.NewReader(body)})
				if err != nil {
					errs.add(fmt.Errorf("putting %s: %w", key, err))
					continue
				}
				sum := sha256.Sum256(body)
				f := landedFile{partner: partner, key: key, version: aws.ToString(put.VersionId), sha256: hex.EncodeToString(sum[:]), size: int64(len(body))}
				mu.Lock()
				files = append(files, f)
				mu.Unlock()
				events.announce(f, strings.Trim(aws.ToString(put.ETag), `"`))
			}
		}()
	}
	for i := range *loadS3Files {
		jobs <- i
	}
	close(jobs)
	uploads.Wait()
	putDone := time.Since(start)
	events.send()
	if err := errs.err(); err != nil {
		t.Fatalf("the burst could not be written or announced:\n%v", err)
	}
	t.Logf("wrote %d files through the S3 API and %d over SFTP in %s; the bridge had acknowledged every HTTP event and taken every SQS message after %s",
		*loadS3Files, perSession*len(sessions), putDone.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// The SFTP uploads, as S3 lists them (the sidecars are not files).
	sftpFiles := map[string]bool{}
	for _, ses := range sessions {
		prefix := r.landingPrefix(ses.partner)
		pg := s3.NewListObjectVersionsPaginator(st.AWS.S3, &s3.ListObjectVersionsInput{Bucket: aws.String("landing"), Prefix: aws.String(prefix + "sftp-")})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page.Versions {
				name := strings.TrimPrefix(aws.ToString(v.Key), prefix)
				body, ok := ses.files[name]
				if !ok {
					continue // another session's, or a sidecar
				}
				sum := sha256.Sum256(body)
				f := landedFile{partner: ses.partner, key: aws.ToString(v.Key), version: aws.ToString(v.VersionId), sha256: hex.EncodeToString(sum[:]), size: int64(len(body))}
				files = append(files, f)
				sftpFiles[f.id()] = true
			}
		}
	}
	if len(sftpFiles) != perSession*len(sessions) {
		t.Fatalf("S3 lists %d of the %d files uploaded over SFTP", len(sftpFiles), perSession*len(sessions))
	}

	runs := waitClosed(t, st, files, start, 20*time.Minute)
	// MinIO's webhook announced the SFTP files and nothing else did: their
	// workflows say so (the checker's source).
	r.check(t, files, sftpFiles, start)
	took := lastClose(runs).Sub(start)
	t.Logf("LOAD burst: %d files (%d S3 API, %d SFTP) delivered once each in %s: %.1f files/s",
		len(files), *loadS3Files, len(sftpFiles), took.Round(time.Second), float64(len(files))/took.Seconds())

	// The bridge pushed back, and lost nothing.
	after := scrape(t, bridgeMetrics)
	delta := func(name string, labels map[string]string) float64 {
		a, _ := after.Value(name, labels)
		b, _ := before.Value(name, labels)
		return a - b
	}
	busy := delta(metrics.IntakeTotal, map[string]string{"source": "http", "result": "busy"})
	sqsWaited := delta(metrics.IntakeThrottledTotal, map[string]string{"source": "sqs"})
	httpWaited := delta(metrics.IntakeThrottledTotal, map[string]string{"source": "http"})
	deleted := delta(metrics.SQSMessagesTotal, map[string]string{"action": "deleted"})
	deadLettered := delta(metrics.SQSMessagesTotal, map[string]string{"action": "dead_lettered"})
	retried := delta(metrics.SQSMessagesTotal, map[string]string{"action": "retried"})
	t.Logf("LOAD back-pressure: the bridge answered %.0f event requests 503 (the test's sender saw %d, all with Retry-After; the rest were MinIO's), %.0f HTTP and %.0f SQS starts waited at its bound; the SQS queue held up to %d messages the bridge had not taken; %.0f messages deleted, %.0f retried, %.0f dead-lettered",
		busy, events.busy.Load(), httpWaited, sqsWaited, events.maxQueued.Load(), deleted, retried, deadLettered)
	if busy == 0 || events.busy.Load() == 0 {
		t.Errorf("the bridge never answered 503 during the burst (ferry_intake_total{source=http,result=busy} rose by %.0f; the sender saw %d): no back-pressure was shown", busy, events.busy.Load())
	}
	if n := events.noRetryAfter.Load(); n > 0 {
		t.Errorf("%d of the bridge's 503 answers had no Retry-After header", n)
	}
	if sqsWaited == 0 {
		t.Error("no SQS start waited at the bridge's bound (ferry_intake_throttled_total{source=sqs} did not rise): the burst did not push back on the SQS source")
	}
	if int(deleted) != events.sqsSent || deadLettered != 0 {
		t.Errorf("the bridge deleted %.0f SQS messages and dead-lettered %.0f; %d were sent, and each should have been deleted once started", deleted, deadLettered, events.sqsSent)
	}
}

// eventSender announces uploads to the bridge the two ways besides
// MinIO's webhook: an EventBridge event POSTed to the webhook, retried as
// the bridge's 503 and Retry-After ask, and, when it has a queue, an S3
// event on the SQS queue. announce collects; send sends them all at once
// and returns once every HTTP event was acknowledged and the queue is
// empty.
type eventSender struct {
	st       *stacktest.Stack
	queueURL string
	errs     *errList
	client   *http.Client
	http     chan []byte
	sqs      chan string
	wg       sync.WaitGroup
	sqsSent  int // after send

	mu              sync.Mutex
	pendingHTTP     [][]byte
	pendingMessages []string

	busy, noRetryAfter, maxQueued atomic.Int64
	sent                          atomic.Int64
	sampling                      chan struct{}
	sampled                       sync.WaitGroup
}

func newEventSender(st *stacktest.Stack, queueURL string, errs *errList) *eventSender {
	e := &eventSender{
		st: st, queueURL: queueURL, errs: errs,
		client:   &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: httpSenders}},
		http:     make(chan []byte, 1<<16),
		sqs:      make(chan string, 1<<16),
		sampling: make(chan struct{}),
	}
	for range httpSenders {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			for body := range e.http {
				e.post(body)
			}
		}()
	}
	if queueURL == "" {
		close(e.sampling)
		return e
	}
	for range 4 {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.sendBatches()
		}()
	}
	// How many messages wait on the queue, not taken by the bridge: the
	// SQS side of back-pressure.
	e.sampled.Add(1)
	go func() {
		defer e.sampled.Done()
		for {
			out, err := st.AWS.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
				QueueUrl: aws.String(queueURL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
			})
			if err == nil {
				n, _ := strconv.ParseInt(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
				if n > e.maxQueued.Load() {
					e.maxQueued.Store(n)
				}
			}
			select {
			case <-e.sampling:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return e
}

func (e *eventSender) announce(f landedFile, etag string) {
	h, m := eventBridgeEvent(f, etag), string(s3Event(f, etag))
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pendingHTTP = append(e.pendingHTTP, h)
	if e.queueURL != "" {
		e.pendingMessages = append(e.pendingMessages, m)
	}
}

// post sends one event until the bridge acknowledges it, waiting as long
// as each 503's Retry-After says.
func (e *eventSender) post(body []byte) {
	busy, noRetryAfter, err := postUntilAcknowledged(e.client, e.st, body)
	e.busy.Add(int64(busy))
	e.noRetryAfter.Add(int64(noRetryAfter))
	if err != nil {
		e.errs.add(err)
	}
}

func (e *eventSender) sendBatches() {
	var batch []sqstypes.SendMessageBatchRequestEntry
	flush := func() {
		if len(batch) == 0 {
			return
		}
		out, err := e.st.AWS.SQS.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(e.queueURL), Entries: batch})
		switch {
		case err != nil:
			e.errs.add(fmt.Errorf("sending %d events to SQS: %w", len(batch), err))
		case len(out.Failed) > 0:
			e.errs.add(fmt.Errorf("SQS refused %d of %d events: %s", len(out.Failed), len(batch), aws.ToString(out.Failed[0].Message)))
		default:
			e.sent.Add(int64(len(batch)))
		}
		batch = batch[:0]
	}
	for body := range e.sqs {
		batch = append(batch, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(len(batch))), MessageBody: aws.String(body)})
		if len(batch) == 10 {
			flush()
		}
	}
	flush()
}

// send sends every announced event at once, then waits until every HTTP
// event is acknowledged and every SQS message has been taken and deleted
// by the bridge.
func (e *eventSender) send() {
	e.mu.Lock()
	for _, h := range e.pendingHTTP {
		e.http <- h
	}
	for _, m := range e.pendingMessages {
		e.sqs <- m
	}
	e.mu.Unlock()
	close(e.http)
	close(e.sqs)
	e.wg.Wait()
	if e.queueURL == "" {
		return
	}
	e.sqsSent = int(e.sent.Load())
	defer func() { close(e.sampling); e.sampled.Wait() }()
	var left map[string]string
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		out, err := e.st.AWS.SQS.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(e.queueURL), AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			},
		})
		if err != nil {
			continue
		}
		left = out.Attributes
		if left[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)] == "0" && left[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0" {
			return
		}
	}
	e.errs.add(fmt.Errorf("the bridge did not drain the SQS queue within 10 minutes: %v", left))
}

// eventBridgeEvent is the event EventBridge delivers to an API
// destination for the upload (AWS's documented format).
func eventBridgeEvent(f landedFile, etag string) []byte {
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": stacktest.Unique("load-event-"), "detail-type": "Object Created", "source": "aws.s3",
		"account": "111122223333", "time": time.Now().UTC().Format(time.RFC3339), "region": "eu-west-1",
		"resources": []string{"arn:aws:s3:::landing"},
		"detail": map[string]any{
			"version": "0", "bucket": map[string]any{"name": "landing"},
			"object":     map[string]any{"key": s3Key(f.key), "size": f.size, "etag": etag, "version-id": f.version, "sequencer": "617f08299329d189"},
			"request-id": "N4N7GDK58NMKJ12R", "requester": "123456789012", "reason": "PutObject",
		},
	})
	return b
}

// s3Event is the S3 event notification for the upload (AWS's documented
// format), as S3 puts it on a queue.
func s3Event(f landedFile, etag string) []byte {
	b, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "eventName": "ObjectCreated:Put",
		"userIdentity": map[string]any{"principalId": "AWS:AIDAEXAMPLE"},
		"s3": map[string]any{
			"s3SchemaVersion": "1.0", "configurationId": "ferry-landing",
			"bucket": map[string]any{"name": "landing", "arn": "arn:aws:s3:::landing"},
			"object": map[string]any{"key": s3Key(f.key), "size": f.size, "eTag": etag, "versionId": f.version, "sequencer": "0055AED6DCD90281E5"},
		},
	}}})
	return b
}

// loadCSV is about size bytes of CSV text that differ for every name.
func loadCSV(name string, size int) []byte {
	b := fmt.Appendf(nil, "file,line,lot,assay,result\n")
	for i := 0; len(b) < size; i++ {
		b = fmt.Appendf(b, "%s,%d,%07d,98.7,passed\n", name, i, i*7919%10_000_000)
	}
	return b
}

// sidecarLine is what `sha256sum name` prints for body.
func sidecarLine(name string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return fmt.Appendf(nil, "%x  %s\n", sum, name)
}

func scrape(t *testing.T, url string) metricstest.Families {
	t.Helper()
	m, err := metricstest.Scrape(url)
	if err != nil {
		t.Fatalf("scraping %s: %v", url, err)
	}
	return m
}

// The large object's sizes. Above 5 GiB S3's CopyObject refuses, so the
// delivery must copy in parts.
var (
	loadLargeMiB   = flag.Int64("load-large-mib", 5<<10+64, "size in MiB of TestLoadLargeObject's object")
	loadSmallFiles = flag.Int("load-small-files", 100, "small files ingested alongside TestLoadLargeObject's object, all at once")
)

// maxWorkerRSS is what the worker may hold while it ingests the large
// object and the small files (the goal).
const maxWorkerRSS = 150 << 20

// TestLoadLargeObjectInBoundedMemorySurvivesWorkerKill ingests an object
// above S3's CopyObject limit, written to landing from a stream (no local
// file), with small files arriving all at once beside it, and SIGKILLs
// the worker in the middle of the multipart copy. The object is delivered
// once, verified (the SHA-256 recorded is the one computed while writing
// it, and that of the bytes read back from the destination), the new
// worker continued the copy's upload, nothing is left behind, and the
// worker's resident memory, sampled across both processes, stayed under
// maxWorkerRSS.
func TestLoadLargeObjectInBoundedMemorySurvivesWorkerKill(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	ctx := context.Background()
	r := runFolder{st: st, name: stacktest.Unique("load-"), partners: []string{"acme", "initech"}}
	var mu sync.Mutex
	var files []landedFile
	r.cleanUp(t, idsOf(&mu, &files))

	size := *loadLargeMiB << 20
	key := r.landingPrefix("acme") + "large.csv"
	pid := st.PID(t, stacktest.Worker)
	peak := sampleRSS(pid)
	defer peak()
	began := time.Now()
	stream := writeParts(t, st, key, size)
	t.Logf("wrote %d MiB in parts to s3://landing/%s in %s from a stream, SHA-256 %s", size>>20, key, time.Since(began).Round(time.Millisecond), stream.sha256)

	// The small files, then the large object, land at once, and their
	// events reach the bridge at once, posted as an EventBridge API
	// destination would (MinIO's webhook, one event at a time, follows):
	// the worker reads the large object and the small files together.
	etags := map[string]string{}
	var wg sync.WaitGroup
	errs := &errList{}
	jobs := make(chan int)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				partner := r.partners[i%len(r.partners)]
				k := r.landingPrefix(partner) + fmt.Sprintf("small-%03d.csv", i)
				body := loadCSV(k, 1<<10)
				put, err := st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("landing"), Key: aws.String(k), Body: bytes.NewReader(body)})
				if err != nil {
					errs.add(fmt.Errorf("putting %s: %w", k, err))
					continue
				}
				sum := sha256.Sum256(body)
				mu.Lock()
				files = append(files, landedFile{partner: partner, key: k, version: aws.ToString(put.VersionId), sha256: hex.EncodeToString(sum[:]), size: int64(len(body))})
				etags[k] = strings.Trim(aws.ToString(put.ETag), `"`)
				mu.Unlock()
			}
		}()
	}
	for i := range *loadSmallFiles {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := errs.err(); err != nil {
		t.Fatal(err)
	}
	large, largeETag := stream.complete(t)
	mu.Lock()
	files = append(files, large)
	mu.Unlock()
	events := newEventSender(st, "", errs)
	events.announce(large, largeETag)
	for _, f := range files[:len(files)-1] {
		events.announce(f, etags[f.key])
	}
	events.send()
	if err := errs.err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()

	// Kill the worker once the copy's upload is under way: its ID
	// heartbeated, and S3 listing at least a quarter of its parts.
	progress, copied := waitPartsCopied(t, st, large.id())
	peakBefore := peak()
	st.Kill(t, stacktest.Worker)
	t.Logf("killed the worker with %d of %d parts copied (upload %s)", copied, progress.PartsTotal, progress.UploadID)
	st.Up(t)
	peak = sampleRSS(st.PID(t, stacktest.Worker))
	defer peak()

	res := waitResultWithin(t, st, large.id(), 10*time.Minute)
	took := time.Since(start)
	runs := waitClosed(t, st, files, began, 5*time.Minute)
	peakAfter := peak()
	r.check(t, files, nil, began)
	// How many small files the worker took on while it read the large one.
	read := inspectedAt(t, st, large.id())
	during := 0
	for _, f := range files {
		if rs := runs[f.id()]; f != large && len(rs) == 1 && rs[0].GetStartTime().AsTime().Before(read) {
			during++
		}
	}

	if res.SHA256 != large.sha256 || res.Size != size {
		t.Errorf("the workflow delivered %d bytes with SHA-256 %s, want %d bytes with %s", res.Size, res.SHA256, size, large.sha256)
	}
	state := queryState(t, st, large.id())
	if state.DeliveryPartsResumed == 0 {
		t.Error("the delivery after the kill started over instead of continuing the upload")
	}
	if ups := multipartUploads(t, st, "delivered", r.destPrefix("acme")); len(ups) != 0 {
		t.Errorf("%d multipart uploads left behind at the destination", len(ups))
	}
	// The bytes at the destination are the bytes written.
	readBack := time.Now()
	obj, err := st.AWS.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("delivered"), Key: aws.String(large.destKey(st)), VersionId: aws.String(res.DestVersionID)})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(h, obj.Body, make([]byte, 1<<20))
	obj.Body.Close()
	if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != large.sha256 {
		t.Errorf("read back %d bytes with SHA-256 %x (%v), want %d bytes with %s", n, h.Sum(nil), err, size, large.sha256)
	}
	t.Logf("read the delivered object back in %s", time.Since(readBack).Round(time.Millisecond))

	t.Logf("LOAD large object: %d MiB (%.2f GiB) delivered in %s from its workflow's start, multipart copy in %d parts, %d resumed after the worker was killed; %d small files beside it, %d of them started while the worker read the large one",
		size>>20, float64(size)/(1<<30), took.Round(time.Second), progress.PartsTotal, state.DeliveryPartsResumed, *loadSmallFiles, during)
	t.Logf("LOAD worker peak RSS: %.1f MiB before the kill, %.1f MiB after (limit %d MiB)", peakBefore/(1<<20), peakAfter/(1<<20), maxWorkerRSS>>20)
	if p := max(peakBefore, peakAfter); p >= maxWorkerRSS {
		t.Errorf("the worker's resident memory peaked at %.1f MiB, want under %d MiB", p/(1<<20), maxWorkerRSS>>20)
	}
}

// streamUpload is a multipart upload to landing written from a
// generated stream (no local file), hashed on the way; complete makes it
// an object.
type streamUpload struct {
	st       *stacktest.Stack
	key      string
	uploadID *string
	parts    []s3types.CompletedPart
	size     int64
	sha256   string
}

// writeParts writes size bytes of CSV text to landing as the parts of a
// multipart upload, aborted when the test ends unless completed.
func writeParts(t *testing.T, st *stacktest.Stack, key string, size int64) *streamUpload {
	t.Helper()
	ctx := context.Background()
	const partSize = 64 << 20
	up, err := st.AWS.S3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("landing"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	su := &streamUpload{st: st, key: key, uploadID: up.UploadId, size: size}
	t.Cleanup(func() {
		_, _ = st.AWS.S3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("landing"), Key: aws.String(key), UploadId: up.UploadId})
	})
	gen := &textStream{left: size}
	h := sha256.New()
	buf := make([]byte, partSize)
	for n := int32(1); gen.left > 0; n++ {
		m, _ := io.ReadFull(gen, buf)
		h.Write(buf[:m])
		out, err := st.AWS.S3.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String("landing"), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: bytes.NewReader(buf[:m]), ContentLength: aws.Int64(int64(m)),
		})
		if err != nil {
			t.Fatalf("uploading part %d of s3://landing/%s: %v", n, key, err)
		}
		su.parts = append(su.parts, s3types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	su.sha256 = hex.EncodeToString(h.Sum(nil))
	return su
}

// complete completes the upload: the object lands, and MinIO announces it.
func (su *streamUpload) complete(t *testing.T) (landedFile, string) {
	t.Helper()
	done, err := su.st.AWS.S3.CompleteMultipartUpload(context.Background(), &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("landing"), Key: aws.String(su.key), UploadId: su.uploadID, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: su.parts},
	})
	if err != nil {
		t.Fatalf("completing s3://landing/%s: %v", su.key, err)
	}
	partner, _, _ := strings.Cut(su.key, "/")
	return landedFile{partner: partner, key: su.key, version: aws.ToString(done.VersionId), sha256: su.sha256, size: su.size}, strings.Trim(aws.ToString(done.ETag), `"`)
}

// textStream yields CSV text in 1 MiB blocks of 64-byte lines, each
// block's first line naming the block, so no two ranges of a copy in parts
// are alike and a part copied to the wrong place changes the SHA-256.
type textStream struct {
	left  int64
	block int
	buf   []byte // the current block's unread rest
}

var textBlock = func() []byte {
	line := fmt.Appendf(nil, "%-63s\n", "lot,0000123,assay,98.7,passed,2026-11-24T06:00:00Z")
	return bytes.Repeat(line, (1<<20)/len(line))
}()

func (s *textStream) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if len(s.buf) == 0 {
		s.buf = append(s.buf[:0], textBlock...)
		copy(s.buf, fmt.Appendf(nil, "%-63s\n", fmt.Sprintf("block,%010d", s.block)))
		s.block++
	}
	n := copy(p[:min(int64(len(p)), s.left)], s.buf)
	s.buf, s.left = s.buf[n:], s.left-int64(n)
	return n, nil
}

// waitPartsCopied waits until the file's Deliver activity has heartbeated
// its multipart upload and S3 lists at least a quarter of its parts (at
// least two): the middle of the copy. (waitCopying, of the fault suite,
// waits only for the upload to begin.)
func waitPartsCopied(t *testing.T, st *stacktest.Stack, id string) (activities.CopyProgress, int) {
	t.Helper()
	var progress activities.CopyProgress
	var copied int
	stacktest.Eventually(t, 10*time.Minute, func() (bool, string) {
		desc, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatal(err)
		}
		if s := desc.WorkflowExecutionInfo.Status; s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the workflow finished (%s) before the worker could be killed mid-copy", s)
		}
		stage := "not copying yet"
		for _, pa := range desc.PendingActivities {
			if pa.ActivityType.GetName() != activities.DeliverName || pa.HeartbeatDetails == nil {
				continue
			}
			if err := converter.GetDefaultDataConverter().FromPayloads(pa.HeartbeatDetails, &progress); err != nil {
				t.Fatalf("decoding the copy's heartbeat: %v", err)
			}
			if progress.UploadID == "" {
				continue
			}
			parts, err := st.AWS.S3.ListParts(context.Background(), &s3.ListPartsInput{
				Bucket: aws.String(progress.Bucket), Key: aws.String(progress.Key), UploadId: aws.String(progress.UploadID),
			})
			if err == nil {
				copied = len(parts.Parts)
			}
			stage = fmt.Sprintf("S3 lists %d of %d parts of upload %s", copied, progress.PartsTotal, progress.UploadID)
		}
		return progress.PartsTotal > 0 && copied >= max(2, progress.PartsTotal/4), stage
	})
	return progress, copied
}

func waitResultWithin(t *testing.T, st *stacktest.Stack, id string, within time.Duration) ingest.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	var res ingest.Result
	if err := st.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &res); err != nil {
		t.Fatalf("workflow %s: %v", id, err)
	}
	if res.Status != filestatus.Delivered {
		t.Fatalf("workflow %s ended %s: %v", id, res.Status, res.Reasons)
	}
	return res
}

func queryState(t *testing.T, st *stacktest.Stack, id string) ingest.FileState {
	t.Helper()
	var state ingest.FileState
	q, err := st.Temporal.QueryWorkflow(context.Background(), id, "", ingest.StatusQuery)
	if err != nil || q.Get(&state) != nil {
		t.Fatalf("status query of %s: %v", id, err)
	}
	return state
}

// inspectedAt is when the file's (last) Inspect activity completed, from
// its workflow's history.
func inspectedAt(t *testing.T, st *stacktest.Stack, id string) time.Time {
	t.Helper()
	inspect := map[int64]bool{}
	var at time.Time
	it := st.Temporal.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		switch ev.EventType {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			inspect[ev.EventId] = ev.GetActivityTaskScheduledEventAttributes().ActivityType.GetName() == activities.InspectName
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			if inspect[ev.GetActivityTaskCompletedEventAttributes().ScheduledEventId] {
				at = ev.EventTime.AsTime()
			}
		}
	}
	if at.IsZero() {
		t.Fatalf("no completed Inspect activity in the history of %s", id)
	}
	return at
}
