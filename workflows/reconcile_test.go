package workflows

import (
	"context"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

func TestReconcileWalksEveryPartnersPages(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Reconcile, workflow.RegisterOptions{Name: ReconcileName})
	env.RegisterActivityWithOptions(func(context.Context, *ReconcilePageInput) (*ReconcilePageResult, error) { return nil, nil },
		activity.RegisterOptions{Name: ReconcilePageName})
	var calls []ReconcilePageInput
	env.OnActivity(ReconcilePageName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *ReconcilePageInput) (*ReconcilePageResult, error) {
			calls = append(calls, *in)
			if in.Partner == "acme" && in.KeyMarker == "" {
				return &ReconcilePageResult{Counts: ReconcileCounts{Listed: 500, Known: 499, Started: 1}, Truncated: true, NextKeyMarker: "acme/inbound/m", NextVersionIDMarker: "v9"}, nil
			}
			return &ReconcilePageResult{Counts: ReconcileCounts{Listed: 3, Known: 2, Ignored: 1}}, nil
		})
	env.ExecuteWorkflow(ReconcileName, &ReconcileInput{Bucket: "landing", Partners: []string{"acme", "globex"}})
	require.NoError(t, env.GetWorkflowError())
	var got ReconcileCounts
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, ReconcileCounts{Listed: 506, Started: 1, Known: 503, Ignored: 2}, got)
	require.Len(t, calls, 3)
	// The second page resumes where the first ended.
	require.Equal(t, ReconcilePageInput{Bucket: "landing", Partner: "acme", KeyMarker: "acme/inbound/m", VersionIDMarker: "v9"}, calls[1])
	require.Equal(t, "globex", calls[2].Partner)
}
