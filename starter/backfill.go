package starter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/backfill"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/intake"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

// runBackfill starts ingestion for files already in landing:
//
//	ferry backfill --partner acme [--prefix 2026/11/] [--since 2026-11-01T00:00:00Z] [--rate 10] [--dry-run]
func runBackfill(args []string, out, progressOut io.Writer, tty bool) error {
	fs := pflag.NewFlagSet("backfill", pflag.ContinueOnError)
	config.BindFlags(fs)
	partner := fs.String("partner", "", "the partner whose landing files to ingest (required)")
	prefix := fs.String("prefix", "", "only keys below <partner>/inbound/<prefix>")
	since := fs.String("since", "", "only versions last modified at or after this time (RFC 3339, e.g. 2026-11-01T00:00:00Z, or a duration like 72h meaning that long ago)")
	ratePerSec := fs.Float64("rate", 10, "at most this many workflow starts per second")
	dryRun := fs.Bool("dry-run", false, "list and count what would be started, start nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(fs)
	if err != nil {
		return err
	}
	if *partner == "" {
		return fmt.Errorf("--partner is required (one of %v)", cfg.PartnerNames())
	}
	if err := cfg.CheckPartner(*partner); err != nil {
		return err
	}
	if *ratePerSec <= 0 || *ratePerSec > 1000 {
		return fmt.Errorf("--rate %v: give a positive number of starts per second, at most 1000", *ratePerSec)
	}
	if strings.HasPrefix(*prefix, "/") || strings.Contains(*prefix, "..") {
		return fmt.Errorf("--prefix %q: give a path below %s/inbound/ without a leading / or ..", *prefix, *partner)
	}
	var sinceT time.Time
	if *since != "" {
		if d, err := time.ParseDuration(*since); err == nil && d > 0 {
			sinceT = time.Now().Add(-d)
		} else if sinceT, err = time.Parse(time.RFC3339, *since); err != nil {
			return fmt.Errorf("--since %q: give an RFC 3339 time like 2026-11-01T00:00:00Z or a duration like 72h", *since)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	tc, err := temporalclient.Dial(cfg.Temporal, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer tc.Close()
	operator := os.Getenv("USER")
	if operator == "" {
		operator = "operator"
	}
	b := &backfill.Backfiller{
		S3: cl.S3,
		// Starts go one at a time at --rate, within the bridge's own bound;
		// the known-check asks Temporal and the file record.
		Intake: &intake.Intake{
			Config: cfg, Temporal: tc, Workflows: tc, Arrivals: tc,
			Files: filestore.New(cl.DynamoDB, cfg.DynamoDB.FilesTable),
			Log:   slog.New(slog.DiscardHandler),
		},
	}
	o := backfill.Options{Bucket: cfg.Landing.Bucket, Partner: *partner, Prefix: *prefix, Since: sinceT, Rate: *ratePerSec, DryRun: *dryRun, Operator: operator}
	where := fmt.Sprintf("s3://%s/%s/inbound/%s", o.Bucket, o.Partner, o.Prefix)
	fmt.Fprintf(progressOut, "listing %s ...\n", where)
	cands, err := b.List(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(progressOut, "%d object versions; starting at most %g a second%s\n", len(cands), o.Rate, map[bool]string{true: " (dry run: nothing is started)"}[o.DryRun])
	bar := progressBar(progressOut, tty, len(cands))
	report, runErr := b.Run(ctx, o, cands, bar)
	counts := report.Counts
	if tty && len(cands) > 0 {
		fmt.Fprintln(progressOut)
	}

	verb := "started"
	if o.DryRun {
		verb = "would start"
	}
	fmt.Fprintf(out, "%s: %d listed, %d %s, %d already known, %d skipped\n", where, counts.Listed, counts.Started, verb, counts.Known, counts.Ignored)
	for i, s := range report.Skipped {
		if i == 50 {
			fmt.Fprintf(out, "  ... and %d more skipped\n", len(report.Skipped)-50)
			break
		}
		fmt.Fprintf(out, "  skipped %s (version %s): %s\n", s.Key, s.VersionID, s.Reason)
	}
	if runErr != nil {
		return fmt.Errorf("backfill stopped after %d of %d versions (run it again to continue; known files are not started twice): %w", counts.Listed, len(cands), runErr)
	}
	return nil
}

// progressBar redraws one line on a terminal; elsewhere (logs, CI) it
// prints a line every 10%.
func progressBar(w io.Writer, tty bool, total int) func(int, intake.Counts) {
	lastDecile := 0
	return func(done int, c intake.Counts) {
		const width = 30
		if total == 0 {
			return
		}
		line := fmt.Sprintf("%d/%d  started %d  known %d  skipped %d", done, total, c.Started, c.Known, c.Ignored)
		if tty {
			filled := width * done / total
			fmt.Fprintf(w, "\r[%s%s] %s", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), line)
			return
		}
		if d := 10 * done / total; d > lastDecile || done == total {
			lastDecile = d
			fmt.Fprintf(w, "%3d%% %s\n", 100*done/total, line)
		}
	}
}
