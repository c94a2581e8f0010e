package intake

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/expect"
)

// Signaler signals a workflow, starting it if it does not run;
// client.Client satisfies it.
type Signaler interface {
	SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any, options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error)
}

// announce tells the occurrence of every expectation the started file
// matches that it arrived: a signal-with-start of the occurrence's
// ExpectFile, so a file that comes before the schedule opens the window
// counts too. It runs once the file's start is durable, from every
// source, and its failure fails the event like a failed start: the
// source retries, the start is a duplicate, and the signal is sent again
// (the occurrence takes the first file and ignores the rest). An
// occurrence already settled, or whose late period has ended, is left
// alone.
func (in *Intake) announce(ctx context.Context, p Plan) error {
	if in.Arrivals == nil {
		return nil
	}
	at := p.Object.EventTime
	if at.IsZero() {
		at = time.Now()
	}
	for _, spec := range in.Config.Partners[p.Partner].Expectations {
		if !spec.Matches(p.Path) {
			continue
		}
		occ, ok, err := spec.At(p.Partner, at)
		if err != nil {
			return fmt.Errorf("expectation %s of %s: %w", spec.Name, p.Partner, err)
		}
		log := in.logger(p).With("expectation", spec.Name, "occurrence", occ.Date)
		if !ok || !time.Now().Before(occ.Closes) {
			// A backfill of an old file: its occurrence is long over.
			log.Debug("matching file outside any open occurrence: not announced")
			continue
		}
		arrival := expect.Arrival{FileID: p.WorkflowID, Bucket: p.Object.Bucket, Key: p.Object.Key, VersionID: p.Object.VersionID, Size: p.Object.Size, At: at}
		_, err = in.Arrivals.SignalWithStartWorkflow(ctx, occ.ID(), expect.ArrivedSignal, arrival, client.StartWorkflowOptions{
			ID: occ.ID(), TaskQueue: in.Config.Temporal.TaskQueue,
			// A settled occurrence is not watched again: the signal of a
			// second matching file finds it closed and is refused.
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			StaticSummary:         fmt.Sprintf("%s: %s by %s", p.Partner, spec.Pattern, occ.Deadline.Format(time.RFC3339)),
		}, expect.WorkflowName, &expect.Input{Occurrence: occ})
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			log.Info("matching file for an occurrence already settled")
			continue
		}
		if err != nil {
			return fmt.Errorf("announcing s3://%s/%s to expectation %s (%s): %w", p.Object.Bucket, p.Object.Key, spec.Name, occ.ID(), err)
		}
		log.Info("expected file arrived: occurrence told", "occurrence_id", occ.ID())
	}
	return nil
}
