//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The fault tests' steady stream of files: partners upload small files
// over SFTP (OpenSSH sftp with their certified keys) and through the S3
// API, globex with its sha256sum sidecar, some of acme's breaking a rule,
// and a few files large enough for a multipart copy, while a test breaks
// part of the stack. Every upload is retried until it has landed, as a
// partner's scheduled transfer would be, so that files stay in flight
// through an outage of MinIO itself.

// trafficPlan is how much a fault test puts through the stack.
type trafficPlan struct {
	small int           // small files, spread over the partners and both channels
	over  time.Duration // how long the small files take to release, evenly spaced
	large int           // files copied in parts (above delivery.multipart_threshold_bytes), put with putLarges
}

// upload is one file a partner uploads, and what Ferry must make of it.
type upload struct {
	partner string
	name    string // file name; the landing key is <partner>/inbound/<name>
	via     string // "sftp" or "s3"
	path    string // the local copy sftp puts, and the S3 API reads
	size    int64
	sha256  string
	want    filestatus.Status // delivered, or quarantined when it breaks a rule
	sidecar string            // local <name>.sha256 for a partner that requires one

	// Set once it has landed.
	landed    bool
	versionID string // known for S3 API uploads
	attempts  int
}

func (u *upload) key() string { return u.partner + "/inbound/" + u.name }

// traffic uploads files and records what it uploaded.
type traffic struct {
	st    *stacktest.Stack
	token string // in every key this test writes: <partner>/inbound/<token>-...
	dir   string
	keys  map[string]string // partner -> SFTP private key
	start time.Time

	mu      sync.Mutex
	files   []*upload
	failed  int // upload attempts that failed (and were retried)
	queues  map[string]chan *upload
	pending sync.WaitGroup // uploads released and not yet landed
	workers sync.WaitGroup
	stop    chan struct{}
	seq     int
}

// trafficPartners are the partners files come from; each has an SFTP and
// an S3 API channel. initech's files never break a rule here: a
// quarantined initech file is reminded about every second.
var trafficPartners = []string{"acme", "globex", "initech"}

// startTraffic starts the stream: plan.small files released evenly over
// plan.over across every partner and channel, each uploaded until it has
// landed. Its cleanup removes what the test wrote to S3 and ends the
// workflows still waiting.
func startTraffic(t *testing.T, st *stacktest.Stack, plan trafficPlan) *traffic {
	t.Helper()
	tr := newTraffic(t, st)
	tr.release(t, plan)
	return tr
}

// newTraffic makes the test's uploaders, with nothing released yet.
func newTraffic(t *testing.T, st *stacktest.Stack) *traffic {
	t.Helper()
	tr := &traffic{st: st, token: stacktest.Unique("flt"), dir: t.TempDir(), keys: map[string]string{},
		start: time.Now(), queues: map[string]chan *upload{}, stop: make(chan struct{})}
	for _, p := range trafficPartners {
		tr.keys[p] = st.PartnerKey(t, p)
	}
	t.Cleanup(func() { tr.cleanUp(t) })
	for _, p := range trafficPartners {
		for _, via := range []string{"sftp", "s3"} {
			q := make(chan *upload, 1024)
			tr.queues[p+"/"+via] = q
			tr.workers.Add(1)
			go func() { defer tr.workers.Done(); tr.uploader(p, via, q) }()
		}
	}
	return tr
}

// release releases plan.small files evenly over plan.over, round-robin
// over the partners and channels; every tenth of acme's breaks a rule (an
// executable saved as .csv).
func (tr *traffic) release(t *testing.T, plan trafficPlan) {
	t.Helper()
	var batch []*upload
	for i := range plan.small {
		p := trafficPartners[i%len(trafficPartners)]
		via := []string{"sftp", "s3"}[(i/len(trafficPartners))%2]
		bad := p == "acme" && i%10 == 0
		batch = append(batch, tr.smallFile(t, p, via, bad))
	}
	tr.pending.Add(len(batch))
	began := time.Now()
	go func() {
		every := plan.over / time.Duration(max(plan.small, 1))
		for i, u := range batch {
			select {
			case <-tr.stop:
				tr.pending.Add(-(len(batch) - i)) // never released
				return
			case <-time.After(time.Until(began.Add(time.Duration(i) * every))):
			}
			tr.queues[u.partner+"/"+u.via] <- u
		}
	}()
}

// smallFile writes one small CSV (or, bad, an executable named .csv) for
// partner to upload via a channel.
func (tr *traffic) smallFile(t *testing.T, partner, via string, bad bool) *upload {
	t.Helper()
	var body []byte
	if bad {
		body = fmt.Appendf([]byte("MZ\x90\x00\x03"), "not a csv %s", rand.Text())
	} else {
		body = []byte("id,qty,note\n")
		for i, n := 0, 5+mrand.IntN(60); i < n; i++ {
			body = fmt.Appendf(body, "%d,%d,%s\n", i, mrand.IntN(1000), rand.Text())
		}
	}
	want := filestatus.Delivered
	if bad {
		want = filestatus.Quarantined
	}
	return tr.file(t, partner, via, want, func(w io.Writer) error { _, err := w.Write(body); return err })
}

// largeSize is a size above delivery.multipart_threshold_bytes that
// copies in parts more parts of delivery.part_size_bytes.
func largeSize(st *stacktest.Stack, parts int64) int64 {
	return st.Config.Delivery.MultipartThresholdBytes + parts*st.Config.Delivery.PartSizeBytes - 1<<20
}

// putLarge uploads a text file of size bytes now, from partner via a
// channel, and returns it once it has landed.
func (tr *traffic) putLarge(t *testing.T, partner, via string, size int64) *upload {
	t.Helper()
	line := []byte("lot,0000123,assay,98.7,passed,2026-11-24T06:00:00Z\n")
	block := bytes.Repeat(line, 64<<10/len(line))
	u := tr.file(t, partner, via, filestatus.Delivered, func(w io.Writer) error {
		n, err := fmt.Fprintf(w, "file,%s\n", rand.Text())
		written := int64(n)
		for err == nil && written < size {
			n, err = w.Write(block[:min(int64(len(block)), size-written)])
			written += int64(n)
		}
		return err
	})
	tr.pending.Add(1)
	tr.queues[partner+"/"+via] <- u
	stacktest.Eventually(t, 5*time.Minute, func() (bool, string) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return u.landed, fmt.Sprintf("the %d MiB upload %s has not landed after %d attempts", u.size>>20, u.key(), u.attempts)
	})
	return u
}

// file writes a file's body (and its sidecar) to disk and records it.
func (tr *traffic) file(t *testing.T, partner, via string, want filestatus.Status, write func(io.Writer) error) *upload {
	t.Helper()
	tr.mu.Lock()
	tr.seq++
	name := fmt.Sprintf("%s-%04d-%s.csv", tr.token, tr.seq, via)
	tr.mu.Unlock()
	path := filepath.Join(tr.dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	cw := &countingWriter{w: io.MultiWriter(f, h)}
	if err := write(cw); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	u := &upload{partner: partner, name: name, via: via, path: path, size: cw.n, sha256: hex.EncodeToString(h.Sum(nil)), want: want}
	if tr.st.Config.Partners[partner].Rules.Sidecar.Required {
		u.sidecar = path + ".sha256"
		if err := os.WriteFile(u.sidecar, []byte(u.sha256+"  "+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tr.mu.Lock()
	tr.files = append(tr.files, u)
	tr.mu.Unlock()
	return u
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// uploader is one partner's channel: it uploads what is released to it,
// SFTP in batches of what is waiting (one session each), until every
// file has landed. A failed attempt is retried after a pause.
func (tr *traffic) uploader(partner, via string, q chan *upload) {
	for {
		var batch []*upload
		select {
		case u := <-q:
			batch = append(batch, u)
		case <-tr.stop:
			return
		}
	more:
		for len(batch) < 8 && via == "sftp" {
			select {
			case u := <-q:
				batch = append(batch, u)
			default:
				break more
			}
		}
		for len(batch) > 0 {
			var err error
			if via == "sftp" {
				err = tr.sftpPut(partner, batch)
			} else {
				err = tr.s3Put(batch[0])
			}
			var left []*upload
			tr.mu.Lock()
			for _, u := range batch {
				u.attempts++
				if u.landed {
					tr.pending.Done()
				} else {
					left = append(left, u)
				}
			}
			if err != nil || len(left) > 0 {
				tr.failed++
			}
			tr.mu.Unlock()
			batch = left
			if err != nil {
				select {
				case <-time.After(2 * time.Second):
				case <-tr.stop:
					return
				}
			}
		}
	}
}

// sftpPut uploads a batch in one OpenSSH sftp session, each file before
// its sidecar, then checks with S3 what landed: MinIO's SFTP server
// stores in the background and does not always report a failed write to
// the client (AWS Transfer Family does).
func (tr *traffic) sftpPut(partner string, batch []*upload) error {
	cmds := []string{"cd /landing/" + partner + "/inbound"}
	for _, u := range batch {
		cmds = append(cmds, "put "+u.path)
		if u.sidecar != "" {
			cmds = append(cmds, "put "+u.sidecar)
		}
	}
	host, port, _ := strings.Cut(tr.st.Env["FERRY_SFTP_ADDRESS"], ":")
	cmd := exec.Command("sftp", "-i", tr.keys[partner], "-oIdentitiesOnly=yes", "-oBatchMode=yes",
		"-oStrictHostKeyChecking=no", "-oUserKnownHostsFile=/dev/null", "-oLogLevel=ERROR", "-oConnectTimeout=5",
		"-P", port, "-b", "-", partner+"@"+host)
	cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("sftp as %s: %w: %s", partner, err, bytes.TrimSpace(out))
	}
	// What landed, whatever sftp said: a file counts once S3 has it at its
	// full size (and its sidecar, where the partner must send one).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, u := range batch {
		ok := tr.hasLanded(ctx, u.key(), u.size)
		if ok && u.sidecar != "" {
			ok = tr.hasLanded(ctx, u.key()+".sha256", -1)
		}
		if ok {
			tr.mu.Lock()
			u.landed = true
			tr.mu.Unlock()
		}
	}
	return err
}

func (tr *traffic) hasLanded(ctx context.Context, key string, size int64) bool {
	head, err := tr.st.AWS.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(tr.st.Config.Landing.Bucket), Key: aws.String(key)})
	return err == nil && (size < 0 || aws.ToInt64(head.ContentLength) == size)
}

// s3Put puts one file (and its sidecar) with the S3 API.
func (tr *traffic) s3Put(u *upload) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	put := func(key, path string) (*s3.PutObjectOutput, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return tr.st.AWS.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(tr.st.Config.Landing.Bucket), Key: aws.String(key), Body: f})
	}
	if u.sidecar != "" {
		if _, err := put(u.key()+".sha256", u.sidecar); err != nil {
			return fmt.Errorf("putting %s.sha256: %w", u.key(), err)
		}
	}
	out, err := put(u.key(), u.path)
	if err != nil {
		return fmt.Errorf("putting %s: %w", u.key(), err)
	}
	tr.mu.Lock()
	u.landed, u.versionID = true, aws.ToString(out.VersionId)
	tr.mu.Unlock()
	return nil
}

// waitStarted waits until n of the test's files have their workflows,
// so that a fault meets files in flight.
func (tr *traffic) waitStarted(t *testing.T, n int) {
	t.Helper()
	stacktest.Eventually(t, 3*time.Minute, func() (bool, string) {
		execs, err := listIngestions(context.Background(), tr.st, tr.start.Add(-time.Minute), tr.token)
		return err == nil && len(execs) >= n, fmt.Sprintf("%d of the test's workflows started, waiting for %d (%v)", len(execs), n, err)
	})
}

// finish waits until every file released has landed (an outage makes
// partners retry), within 5 minutes.
func (tr *traffic) finish(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() { tr.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		tr.mu.Lock()
		var waiting []string
		for _, u := range tr.files {
			if !u.landed {
				waiting = append(waiting, fmt.Sprintf("%s (%d attempts)", u.key(), u.attempts))
			}
		}
		tr.mu.Unlock()
		t.Fatalf("uploads not landed within 5 minutes: %s", strings.Join(waiting, ", "))
	}
	tr.mu.Lock()
	n, failed := len(tr.files), tr.failed
	tr.mu.Unlock()
	t.Logf("traffic: %d files landed in %s (%d upload attempts failed and were retried)", n, time.Since(tr.start).Round(time.Second), failed)
}

// expectations are what the uploads must become, by landing key.
func (tr *traffic) expectations() map[string]expectation {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	want := map[string]expectation{}
	for _, u := range tr.files {
		want[u.key()] = expectation{partner: u.partner, status: u.want, sha256: u.sha256, size: u.size, via: u.via}
	}
	return want
}

// cleanUp ends the workflows still waiting for a decision and removes
// the test's objects from every bucket Ferry writes to.
func (tr *traffic) cleanUp(t *testing.T) {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	tr.workers.Wait()
	ctx := context.Background()
	if execs, err := listIngestions(ctx, tr.st, tr.start.Add(-time.Minute), tr.token); err == nil {
		for _, e := range execs {
			if e.running() {
				_ = tr.st.Temporal.TerminateWorkflow(ctx, e.id, "", "fault test cleanup")
			}
		}
	} else {
		t.Logf("cleanup: listing the test's workflows: %v", err)
	}
	for _, p := range trafficPartners {
		tr.st.RemoveVersions(t, tr.st.Config.Landing.Bucket, p+"/inbound/"+tr.token)
		dest := tr.st.Config.Partners[p].Destination
		tr.st.RemoveVersions(t, dest.Bucket, dest.Prefix+tr.token)
		tr.st.RemoveVersions(t, tr.st.Config.Quarantine.Bucket, p+"/"+tr.token)
		tr.st.RemoveVersions(t, tr.st.Config.Quarantine.Bucket, "rejected/"+p+"/"+tr.token)
	}
}
