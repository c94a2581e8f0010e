package workflows

import (
	"context"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/reconcile"
)

func TestReconcileWalksEveryPartnersPages(t *testing.T) {
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Reconcile, workflow.RegisterOptions{Name: reconcile.WorkflowName})
	env.RegisterActivityWithOptions(func(context.Context, *reconcile.PageInput) (*reconcile.PageResult, error) { return nil, nil },
		activity.RegisterOptions{Name: reconcile.PageActivityName})
	var calls []reconcile.PageInput
	env.OnActivity(reconcile.PageActivityName, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in *reconcile.PageInput) (*reconcile.PageResult, error) {
			calls = append(calls, *in)
			if in.Partner == "acme" && in.KeyMarker == "" {
				return &reconcile.PageResult{Counts: intake.Counts{Listed: 500, Known: 499, Started: 1}, Truncated: true, NextKeyMarker: "acme/inbound/m", NextVersionIDMarker: "v9"}, nil
			}
			return &reconcile.PageResult{Counts: intake.Counts{Listed: 3, Known: 2, Ignored: 1}}, nil
		})
	env.ExecuteWorkflow(reconcile.WorkflowName, &reconcile.Input{Bucket: "landing", Partners: []string{"acme", "globex"}})
	require.NoError(t, env.GetWorkflowError())
	var got intake.Counts
	require.NoError(t, env.GetWorkflowResult(&got))
	require.Equal(t, intake.Counts{Listed: 506, Started: 1, Known: 503, Ignored: 2}, got)
	require.Len(t, calls, 3)
	// The second page resumes where the first ended.
	require.Equal(t, reconcile.PageInput{Bucket: "landing", Partner: "acme", KeyMarker: "acme/inbound/m", VersionIDMarker: "v9"}, calls[1])
	require.Equal(t, "globex", calls[2].Partner)
}
