// Command record-histories drives IngestFile down each of its paths on the
// running local stack and writes each workflow's history to
// workflows/testdata, where TestReplayRecordedHistories replays them so a
// change that would break running workflows fails a test.
//
//	make run && source .ferry/stack.env
//	go run ./deploy/local/record-histories [--out workflows/testdata] [--only NAME,...]
//
// A recorded history stands for the workflows that code version left
// running: record the paths a change adds with --only, and keep the
// histories of older paths as they are.
//
// Files enter the way partners' files do (a PutObject into landing, the
// event through the bridge); decisions go in the way operators send them
// (signals, the decide update, signed with the demo keys).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/pflag"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

type recorder struct {
	cfg *config.Config
	s3  *s3.Client
	tc  client.Client
	out string
	run string // makes keys unique per recording
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "record-histories:", err)
		os.Exit(1)
	}
}

func run() error {
	fs := pflag.NewFlagSet("record-histories", pflag.ContinueOnError)
	out := fs.String("out", "workflows/testdata", "where the histories are written")
	only := fs.StringSlice("only", nil, "record only these scenarios (default: all, which rewrites every history)")
	cfg, err := config.FromArgs(fs, os.Args[1:])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	clients, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	tc, err := temporalclient.Dial(cfg.Temporal, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer tc.Close()
	r := &recorder{cfg: cfg, s3: clients.S3, tc: tc, out: *out, run: time.Now().UTC().Format("150405")}
	for _, sc := range []struct {
		name string
		do   func(context.Context) (string, error)
	}{
		{"delivered", r.delivered},
		{"approved-after-refusal", r.approvedAfterRefusal},
		{"rejected", r.rejected},
		{"sidecar-delivered-source-tagged", r.sidecarDelivered},
		{"signed-four-eyes-concurrent", r.signedFourEyesConcurrent},
		{"escalated-then-approved", r.escalatedThenApproved},
		{"fast-path-delivered", r.delivered},
		{"fast-path-quarantined-approved", r.approvedAfterRefusal},
		{"fast-path-handed-back-approved", r.handedBackApproved},
		{"batch-member-delivered", r.batchMemberDelivered},
		{"batch-quarantined-approved", r.batchQuarantinedApproved},
		// Since record-provenance: the event's principal, source IP,
		// request ID and time in the record and the first audit entry.
		{"provenance-delivered", r.delivered},
		{"provenance-signed-four-eyes", r.signedFourEyesConcurrent},
		// Since the audit-anchor patch: each file anchors its audit head
		// at the end.
		{"anchored-fast-path-delivered", r.delivered},
		{"anchored-rejected", r.rejected},
		{"anchored-handed-back-approved", r.handedBackApproved},
		// Since ferry-release-2026-12: one version marker stands for the
		// three patches above.
		{"release-fast-path-delivered", r.delivered},
		{"release-rejected", r.rejected},
		{"release-handed-back-approved", r.handedBackApproved},
		{"release-signed-four-eyes-concurrent", r.signedFourEyesConcurrent},
	} {
		if len(*only) > 0 && !slices.Contains(*only, sc.name) {
			continue
		}
		id, err := sc.do(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		if err := r.save(ctx, id, sc.name); err != nil {
			return err
		}
	}
	return nil
}

// upload puts a partner's file into landing and returns the ID of the
// workflow its event started.
func (r *recorder) upload(ctx context.Context, partner, name string, body []byte) (key, id string, err error) {
	return r.put(ctx, fmt.Sprintf("%s/inbound/record-%s-%s", partner, r.run, name), body)
}

// put puts body under key in landing and returns the ID of the workflow
// its event started.
func (r *recorder) put(ctx context.Context, key string, body []byte) (_, id string, err error) {
	if _, err := r.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.cfg.Landing.Bucket), Key: aws.String(key), Body: strings.NewReader(string(body))}); err != nil {
		return "", "", fmt.Errorf("uploading %s: %w", key, err)
	}
	err = r.until(ctx, "a workflow for "+key, func() (bool, error) {
		resp, err := r.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("ObjectKey = '%s'", key)})
		if err != nil || len(resp.Executions) == 0 {
			return false, err
		}
		id = resp.Executions[0].Execution.WorkflowId
		return true, nil
	})
	return key, id, err
}

// status waits until the file is in stage and returns its state.
func (r *recorder) status(ctx context.Context, id, stage string) (ingest.FileState, error) {
	var st ingest.FileState
	err := r.until(ctx, id+" "+stage, func() (bool, error) {
		q, err := r.tc.QueryWorkflow(ctx, id, "", ingest.StatusQuery)
		if err != nil {
			return false, nil // not started on a worker yet
		}
		if err := q.Get(&st); err != nil {
			return false, err
		}
		return string(st.Stage) == stage, nil
	})
	return st, err
}

func (r *recorder) until(ctx context.Context, what string, done func() (bool, error)) error {
	for ctx.Err() == nil {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
}

func (r *recorder) signal(ctx context.Context, id, kind, approver, reason string, sig *approval.Signature) error {
	return r.tc.SignalWorkflow(ctx, id, "", kind, approval.Payload{Approver: approver, Reason: reason, Signature: sig})
}

func (r *recorder) decide(ctx context.Context, id, kind, approver, reason string, sig *approval.Signature) error {
	h, err := r.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: approval.DecideUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{approval.DecideRequest{Approver: approver, Reason: reason, Decision: kind, Signature: sig}},
	})
	if err != nil {
		return err
	}
	var res approval.DecideResult
	return h.Get(ctx, &res)
}

// sign signs a decision with a demo key from deploy/local/keys.
func (r *recorder) sign(id, sha, kind, approver, reason string) (*approval.Signature, error) {
	pem, err := os.ReadFile(filepath.Join("deploy/local/keys", approver))
	if err != nil {
		return nil, err
	}
	at := time.Now().UTC().Truncate(time.Second)
	return approval.Sign(pem, approval.Manifest(id, sha, kind, approver, reason, at), at)
}

func (r *recorder) wait(ctx context.Context, id string) error {
	return r.tc.GetWorkflow(ctx, id, "").Get(ctx, nil)
}

func (r *recorder) delivered(ctx context.Context) (string, error) {
	_, id, err := r.upload(ctx, "acme", "orders.csv", []byte("id,qty\n1,5\n"))
	if err != nil {
		return "", err
	}
	return id, r.wait(ctx, id)
}

// approvedAfterRefusal: a name violation, a refused update, an approval.
func (r *recorder) approvedAfterRefusal(ctx context.Context) (string, error) {
	_, id, err := r.upload(ctx, "acme", "tool.exe", []byte("MZ\x90\x00 an installer acme needs"))
	if err != nil {
		return "", err
	}
	if _, err := r.status(ctx, id, "quarantined"); err != nil {
		return "", err
	}
	if err := r.decide(ctx, id, approval.ApproveSignal, "eve", "not an approver", nil); err == nil {
		return "", errors.New("eve's decision was accepted")
	}
	if err := r.decide(ctx, id, approval.ApproveSignal, "alice", "confirmed with acme by phone", nil); err != nil {
		return "", err
	}
	return id, r.wait(ctx, id)
}

func (r *recorder) rejected(ctx context.Context) (string, error) {
	_, id, err := r.upload(ctx, "acme", "report.csv", []byte("MZ\x90\x00 not a csv"))
	if err != nil {
		return "", err
	}
	if _, err := r.status(ctx, id, "quarantined"); err != nil {
		return "", err
	}
	if err := r.signal(ctx, id, approval.RejectSignal, "bob", "acme says it was sent by mistake", nil); err != nil {
		return "", err
	}
	return id, r.wait(ctx, id)
}

// sidecarDelivered: globex's file waits for its sidecar, matches it, is
// delivered and its landing version tagged.
func (r *recorder) sidecarDelivered(ctx context.Context) (string, error) {
	body := []byte("id,qty\n7,3\n")
	key, id, err := r.upload(ctx, "globex", "orders.csv", body)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	side := fmt.Sprintf("%s  %s\n", hex.EncodeToString(sum[:]), filepath.Base(key))
	if _, err := r.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.cfg.Landing.Bucket), Key: aws.String(key + ".sha256"), Body: strings.NewReader(side)}); err != nil {
		return "", err
	}
	return id, r.wait(ctx, id)
}

// signedFourEyesConcurrent: a globex file whose sidecar disagrees is
// quarantined; carol approves twice at once (update and signal), which
// counts once; dave's approval releases it.
func (r *recorder) signedFourEyesConcurrent(ctx context.Context) (string, error) {
	key, id, err := r.upload(ctx, "globex", "lab.csv", []byte("id,result\n1,ok\n"))
	if err != nil {
		return "", err
	}
	side := fmt.Sprintf("%064d  %s\n", 0, filepath.Base(key))
	if _, err := r.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(r.cfg.Landing.Bucket), Key: aws.String(key + ".sha256"), Body: strings.NewReader(side)}); err != nil {
		return "", err
	}
	st, err := r.status(ctx, id, "quarantined")
	if err != nil {
		return "", err
	}
	reason := "sidecar typo confirmed by globex"
	carol, err := r.sign(id, st.SHA256, approval.ApproveSignal, "carol", reason)
	if err != nil {
		return "", err
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.decide(ctx, id, approval.ApproveSignal, "carol", reason, carol) }()
	go func() { defer wg.Done(); _ = r.signal(ctx, id, approval.ApproveSignal, "carol", reason, carol) }()
	wg.Wait()
	if st, err = r.status(ctx, id, "quarantined"); err != nil {
		return "", err
	}
	if st.Approvals != 1 {
		return "", fmt.Errorf("carol's two approvals counted %d times", st.Approvals)
	}
	dave, err := r.sign(id, st.SHA256, approval.ApproveSignal, "dave", "agreed")
	if err != nil {
		return "", err
	}
	if err := r.decide(ctx, id, approval.ApproveSignal, "dave", "agreed", dave); err != nil {
		return "", err
	}
	return id, r.wait(ctx, id)
}

// handedBackApproved: a small acme upload named .pgp is handed back by
// the fast path's local inspection (it is to be decrypted) to the regular
// activity, which finds it is not OpenPGP and quarantines it; alice
// releases it.
func (r *recorder) handedBackApproved(ctx context.Context) (string, error) {
	_, id, err := r.upload(ctx, "acme", "orders.csv.pgp", []byte("id,qty\n1,5\n"))
	if err != nil {
		return "", err
	}
	if _, err := r.status(ctx, id, "quarantined"); err != nil {
		return "", err
	}
	if err := r.decide(ctx, id, approval.ApproveSignal, "alice", "acme sent it unencrypted by mistake; checked", nil); err != nil {
		return "", err
	}
	return id, r.wait(ctx, id)
}

// escalatedThenApproved: initech's file waits through reminders and its
// deadline; frank, an escalation approver, releases it.
func (r *recorder) escalatedThenApproved(ctx context.Context) (string, error) {
	_, id, err := r.upload(ctx, "initech", "batch.exe", []byte("MZ\x90\x00"))
	if err != nil {
		return "", err
	}
	if _, err := r.status(ctx, id, "quarantined"); err != nil {
		return "", err
	}
	p := r.cfg.Partners["initech"].Approval
	time.Sleep(p.Deadline + 2*time.Second)
	if err := r.decide(ctx, id, approval.ApproveSignal, "frank", "escalated to me; checked", nil); err != nil {
		return "", err
	}
	return id, r.wait(ctx, id)
}

// save writes the workflow's history as `temporal workflow show -o json` would.
// batchMemberDelivered: labco's batch folder gets a file, then the
// manifest listing it; the batch is released and the file delivered.
func (r *recorder) batchMemberDelivered(ctx context.Context) (string, error) {
	folder := fmt.Sprintf("labco/inbound/record-%s-delivered/", r.run)
	body := []byte("id,result\n1,negative\n")
	_, id, err := r.put(ctx, folder+"labs_1.csv", body)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	if _, _, err := r.put(ctx, folder+"labs.sha256", []byte(hex.EncodeToString(sum[:])+"  labs_1.csv\n")); err != nil {
		return "", err
	}
	return id, r.wait(ctx, id)
}

// batchQuarantinedApproved: labco's manifest lists two files and one
// arrives; at the batch's timeout it is quarantined as a whole, alice
// (update) and bob (signal) approve the batch, and the file is delivered.
// The batch's own history is recorded too.
func (r *recorder) batchQuarantinedApproved(ctx context.Context) (string, error) {
	folder := fmt.Sprintf("labco/inbound/record-%s-quarantined/", r.run)
	body := []byte("id,result\n1,negative\n")
	sum := sha256.Sum256(body)
	manifest := fmt.Sprintf(`{"files": [{"name": "labs_1.csv", "size": %d, "sha256": %q}, {"name": "labs_2.csv", "sha256": "%064d"}]}`, len(body), hex.EncodeToString(sum[:]), 0)
	if _, _, err := r.put(ctx, folder+"labs.manifest.json", []byte(manifest)); err != nil {
		return "", err
	}
	_, id, err := r.put(ctx, folder+"labs_1.csv", body)
	if err != nil {
		return "", err
	}
	st, err := r.status(ctx, id, "quarantined")
	if err != nil {
		return "", err
	}
	bid := st.Batch.WorkflowID
	if err := r.decide(ctx, bid, approval.ApproveSignal, "alice", "labs_2.csv withdrawn by the lab", nil); err != nil {
		return "", err
	}
	if err := r.signal(ctx, bid, approval.ApproveSignal, "bob", "withdrawal notice checked", nil); err != nil {
		return "", err
	}
	if err := r.wait(ctx, id); err != nil {
		return "", err
	}
	if err := r.wait(ctx, bid); err != nil {
		return "", err
	}
	return id, r.save(ctx, bid, "batch-workflow-quarantined-approved")
}

func (r *recorder) save(ctx context.Context, id, name string) error {
	var h historypb.History
	it := r.tc.GetWorkflowHistory(ctx, id, "", false, 0)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("history of %s: %w", id, err)
		}
		h.Events = append(h.Events, e)
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		return err
	}
	path := filepath.Join(r.out, "history-"+name+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %s (%d events)\n", path, id, len(h.Events))
	return nil
}
