package intake

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/ferrydata/ferry/internal/filestore"
)

// Describer looks a workflow up in Temporal; client.Client satisfies it.
type Describer interface {
	DescribeWorkflowExecution(ctx context.Context, workflowID, runID string) (*workflowservice.DescribeWorkflowExecutionResponse, error)
}

// Records reads file records; *filestore.Store satisfies it.
type Records interface {
	Get(ctx context.Context, fileID string) (*filestore.File, error)
}

// BatchRecords answers for many files at once which have a record;
// *filestore.Store satisfies it.
type BatchRecords interface {
	Recorded(ctx context.Context, fileIDs []string) (map[string]bool, error)
}

// known reports whether the file with this workflow ID has been started
// before: its record exists in the file store, or Temporal has a workflow
// under its ID (running, or closed within retention). The record is asked
// first: it outlives Temporal's retention, so for the bulk of a listing —
// files delivered long ago — one lookup answers. Temporal covers a
// workflow started so recently that it has not written its record yet.
func (in *Intake) known(ctx context.Context, workflowID string) (bool, error) {
	if in.Files == nil || in.Workflows == nil {
		return false, errors.New("intake: the known-check needs Files and Workflows set")
	}
	if _, err := in.Files.Get(ctx, workflowID); err == nil {
		return true, nil
	} else if !errors.Is(err, filestore.ErrNotFound) {
		return false, fmt.Errorf("reading the file record %s (is DynamoDB reachable?): %w", workflowID, err)
	}
	return in.running(ctx, workflowID)
}

// running reports whether Temporal has a workflow under the ID (running,
// or closed within retention).
func (in *Intake) running(ctx context.Context, workflowID string) (bool, error) {
	if in.Workflows == nil {
		return false, errors.New("intake: the known-check needs Workflows set")
	}
	_, err := in.Workflows.DescribeWorkflowExecution(ctx, workflowID, "")
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking up workflow %s (is Temporal reachable?): %w", workflowID, err)
	}
	return true, nil
}
