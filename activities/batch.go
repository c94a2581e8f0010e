package activities

import (
	"context"
	"fmt"
	"io"
	"path"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/ingest"
)

// Batch activity names.
const (
	ReadManifestName = "ReadManifest"
	JoinBatchName    = "JoinBatch"
)

// BatchSignaler signals a batch's workflow, starting it when it is not
// running; client.Client satisfies it. Workflow code cannot
// signal-with-start, so a member's workflow asks the worker's client.
type BatchSignaler interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
		options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
}

// ReadManifestInput names the inspected manifest (its plaintext, for a
// decrypted upload).
type ReadManifestInput struct {
	File FileRef
	Name string
}

// ReadManifestResult is what the manifest lists, or why it could not be
// read: a malformed manifest is an outcome the batch reports, not an
// error to retry.
type ReadManifestResult struct {
	Manifest *batch.Manifest
	Error    string
}

// ReadManifest reads and parses a batch manifest (at most
// batch.MaxManifestBytes).
func (a *Activities) ReadManifest(ctx context.Context, in *ReadManifestInput) (*ReadManifestResult, error) {
	f := in.File
	obj, err := a.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(f.Bucket), Key: aws.String(f.Key), VersionId: versionPtr(f.VersionID), IfMatch: etagCondition(f)})
	if isNotFound(err) {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("manifest s3://%s/%s version %s no longer exists", f.Bucket, f.Key, f.VersionID), ErrObjectVanished, err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest s3://%s/%s: %w", f.Bucket, f.Key, err)
	}
	defer obj.Body.Close()
	body, err := io.ReadAll(io.LimitReader(obj.Body, batch.MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading manifest s3://%s/%s: %w", f.Bucket, f.Key, err)
	}
	if len(body) > batch.MaxManifestBytes {
		return &ReadManifestResult{Error: fmt.Sprintf("manifest %s is over %d bytes: split the batch into folders of fewer files", in.Name, batch.MaxManifestBytes)}, nil
	}
	m, err := batch.ParseManifest(in.Name, body)
	if err != nil {
		f.logger(ctx).Warn("batch manifest is malformed", "error", err)
		return &ReadManifestResult{Error: err.Error()}, nil
	}
	f.logger(ctx).Info("read batch manifest", "files", len(m.Files))
	return &ReadManifestResult{Manifest: m}, nil
}

// JoinBatchInput is a member's report and, for the first member of a
// batch, what starts the batch's workflow.
type JoinBatchInput struct {
	WorkflowID string
	Batch      batch.Input
	Member     batch.Member
}

// JoinBatch signals the member's report to its batch's workflow, starting
// it on the worker's task queue when it is not running. A folder whose
// batch has ended starts a new batch: a late file is then judged by a
// batch of its own, which tells it what is missing.
func (a *Activities) JoinBatch(ctx context.Context, in *JoinBatchInput) error {
	b := in.Batch
	opts := client.StartWorkflowOptions{
		ID:                    in.WorkflowID,
		TaskQueue:             activity.GetInfo(ctx).TaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			ingest.PartnerAttr.ValueSet(b.Partner),
			ingest.ObjectKeyAttr.ValueSet(b.Folder),
			ingest.FileStatusAttr.ValueSet(string(filestatus.Received)),
		),
		StaticSummary: fmt.Sprintf("%s: batch %s", b.Partner, path.Base(b.Folder)),
		StaticDetails: fmt.Sprintf("s3://%s/%s — released when its manifest's files have all arrived and match, quarantined as a whole after %s", b.Bucket, b.Folder, b.Settings.Timeout),
	}
	run, err := a.Batches.SignalWithStartWorkflow(ctx, in.WorkflowID, batch.MemberSignal, in.Member, opts, batch.WorkflowName, &b)
	if err != nil {
		return fmt.Errorf("signalling batch %s (%s): %w", in.WorkflowID, b.Folder, err)
	}
	in.ref().logger(ctx).Info("joined batch", "batch_workflow_id", in.WorkflowID, "batch_run_id", run.GetRunID(), "folder", b.Folder)
	return nil
}

func (in *JoinBatchInput) ref() FileRef {
	m := in.Member
	return FileRef{FileID: m.FileID, Partner: in.Batch.Partner, Bucket: in.Batch.Bucket, Key: m.Key, VersionID: m.VersionID}
}
