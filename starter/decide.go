package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/ferrydata/ferry/internal/ingest"

	"github.com/spf13/pflag"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/approval"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

// runDecide sends an approve or reject decision through the decide Update
// and prints the answer, signing it first with --key:
//
//	ferry approve --workflow-id ID --approver alice --reason "..." [--key ~/.ssh/id_ed25519]
func runDecide(kind string, args []string, out io.Writer) error {
	fs := pflag.NewFlagSet(kind, pflag.ContinueOnError)
	config.BindFlags(fs)
	id := fs.String("workflow-id", "", "the file's workflow ID (ingest-<partner>-<hash>)")
	approver := fs.String("approver", "", "your name, as listed in the partner's approvers")
	reason := fs.String("reason", "", "why you decide so (required)")
	keyPath := fs.String("key", "", "your SSH private key, to sign the decision (unencrypted OpenSSH key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" || *approver == "" || *reason == "" {
		return errors.New("--workflow-id, --approver and --reason are required")
	}
	cfg, err := config.Load(fs)
	if err != nil {
		return err
	}
	tc, err := temporalclient.Dial(cfg.Temporal, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	q, err := tc.QueryWorkflow(ctx, *id, "", ingest.StatusQuery)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("no file workflow %s: check the ID (the Temporal UI lists them with FileStatus=\"quarantined\")", *id)
	}
	if err != nil {
		return fmt.Errorf("asking %s for its status: %w", *id, err)
	}
	var state ingest.FileState
	if err := q.Get(&state); err != nil {
		return err
	}
	req := approval.DecideRequest{Approver: *approver, Reason: *reason, Decision: kind}
	if *keyPath != "" {
		pem, err := os.ReadFile(*keyPath)
		if err != nil {
			return fmt.Errorf("reading --key: %w", err)
		}
		at := time.Now().UTC().Truncate(time.Second)
		if req.Signature, err = approval.Sign(pem, approval.Manifest(*id, state.SHA256, kind, *approver, *reason, at), at); err != nil {
			return err
		}
		fmt.Fprintf(out, "signing as %s: %q for %s (SHA-256 %s)\n", *approver, approval.Meaning(kind), *id, state.SHA256)
	}
	h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: *id, UpdateName: approval.DecideUpdate, Args: []any{req}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return fmt.Errorf("sending the decision to %s: %w", *id, err)
	}
	var res approval.DecideResult
	if err := h.Get(ctx, &res); err != nil {
		return fmt.Errorf("%s", err)
	}
	fmt.Fprintf(out, "%s accepted: %s (%d of %d approvals)\n", kind, res.Outcome, res.Approvals, res.Required)
	return nil
}
