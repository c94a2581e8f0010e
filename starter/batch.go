package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/api/serviceerror"

	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

// runBatch prints one batch as its workflow's status query answers:
// status, members, what is missing or mismatched, decisions.
func runBatch(args []string, out io.Writer) error {
	fs := pflag.NewFlagSet("batch", pflag.ContinueOnError)
	partner := fs.String("partner", "", "the partner whose batch it is")
	folder := fs.String("folder", "", "the batch folder below the partner's inbound/ (b1, inbound/b1/ or <partner>/inbound/b1/)")
	cfg, err := config.FromArgs(fs, args)
	if err != nil {
		return err
	}
	if *partner == "" || *folder == "" {
		return errors.New("--partner and --folder are required")
	}
	if err := cfg.CheckPartner(*partner); err != nil {
		return err
	}
	if cfg.Partners[*partner].Batch == nil {
		return fmt.Errorf("partner %s sends no batches (partners.%s.batch is not set)", *partner, *partner)
	}
	key := batchFolder(*partner, *folder)
	id := batch.WorkflowID(*partner, cfg.Landing.Bucket, key)
	tc, err := temporalclient.Dial(cfg.Temporal, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q, err := tc.QueryWorkflow(ctx, id, "", batch.StatusQuery)
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return fmt.Errorf("no batch %s (workflow %s): no file of the folder has finished its inspection yet, or the folder is not %s's", key, id, *partner)
	}
	if err != nil {
		return fmt.Errorf("asking batch %s for its status: %w", id, err)
	}
	var s batch.State
	if err := q.Get(&s); err != nil {
		return err
	}
	printBatch(out, s)
	return nil
}

// batchFolder is the batch's folder key, however the operator named it.
func batchFolder(partner, folder string) string {
	f := strings.Trim(folder, "/")
	f = strings.TrimPrefix(f, partner+"/")
	f = strings.TrimPrefix(f, "inbound/")
	return partner + "/inbound/" + f + "/"
}

func printBatch(out io.Writer, s batch.State) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("batch", fmt.Sprintf("s3://%s/%s", s.Bucket, s.Folder))
	row("workflow", s.WorkflowID)
	row("status", s.Status)
	if s.Status == batch.Collecting {
		row("quarantined at", s.Deadline.UTC().Format(time.RFC3339)+" unless complete by then")
	}
	if m := s.Manifest; m != nil {
		row("manifest", fmt.Sprintf("%s (%s)", m.Name, m.FileID))
	}
	for _, m := range s.Members {
		row("file", fmt.Sprintf("%s %d bytes sha256 %s (%s)", m.Name, m.Size, m.SHA256, m.FileID))
	}
	for _, m := range s.Superseded {
		row("superseded", fmt.Sprintf("%s version %s (%s)", m.Name, m.VersionID, m.FileID))
	}
	row("missing", strings.Join(s.Missing, ", "))
	row("mismatched", strings.Join(s.Mismatched, ", "))
	row("unlisted", strings.Join(s.Unlisted, ", "))
	row("arrived late", strings.Join(s.Late, ", "))
	for _, r := range s.Reasons {
		row("reason", r)
	}
	if s.Status == batch.Quarantined {
		row("approvals", fmt.Sprintf("%d of %d: ferry approve --workflow-id %s --approver NAME --reason WHY", s.Approvals, s.RequiredApprovals, s.WorkflowID))
	}
	for _, d := range s.Decisions {
		v := fmt.Sprintf("%s by %s: %s", d.Kind, d.Approver, d.Reason)
		if !d.Accepted {
			v = fmt.Sprintf("refused %s by %s: %s", d.Kind, d.Approver, d.Refusal)
		}
		row("decision", v)
	}
	_ = tw.Flush()
}
