package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/filestore"
)

// errBroken makes the command exit 1 once every trail has been reported.
var errBroken = errors.New("audit verification failed")

// runAudit shows and verifies audit trails, each as a hash chain and
// against the heads anchored for it in the Object Lock bucket
// (audit.anchor.bucket, internal/anchor):
//
//	ferry audit --file-id ID      print one file's trail and verify it
//	ferry audit --partner acme    verify the trail of every file of a partner
//	ferry audit --checkpoints     verify the chain of anchor checkpoints
func runAudit(args []string, out io.Writer) error {
	fs := pflag.NewFlagSet("audit", pflag.ContinueOnError)
	config.BindFlags(fs)
	fileID := fs.String("file-id", "", "the file's workflow ID")
	partner := fs.String("partner", "", "verify every file of this partner")
	checkpoints := fs.Bool("checkpoints", false, "verify that every anchor checkpoint is genuine and chains to the one before")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if n := btoi(*fileID != "") + btoi(*partner != "") + btoi(*checkpoints); n != 1 {
		return errors.New("give exactly one of --file-id ID, --partner NAME or --checkpoints")
	}
	cfg, err := config.Load(fs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	trails := &audit.Store{DB: cl.DynamoDB, Table: cfg.DynamoDB.AuditTable}
	anchors := anchor.FromConfig(cl.S3, cfg)
	if anchors == nil {
		fmt.Fprintln(out, "anchors not checked: audit.anchor.bucket is not set, so a chain recomputed as a whole would verify")
	}
	if *checkpoints {
		return verifyCheckpoints(ctx, out, anchors)
	}
	report := func(out io.Writer, fileID string, es []audit.Entry) error {
		return report(ctx, out, anchors, fileID, es)
	}
	if *fileID != "" {
		es, err := trails.List(ctx, *fileID)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return fmt.Errorf("no audit trail for %s: check the workflow ID (ingest-<partner>-<hash>)", *fileID)
		}
		fmt.Fprint(out, audit.Summary(es))
		return report(out, *fileID, es)
	}
	if err := cfg.CheckPartner(*partner); err != nil {
		return err
	}
	files, err := filestore.New(cl.DynamoDB, cfg.DynamoDB.FilesTable).ListByPartner(ctx, *partner)
	if err != nil {
		return err
	}
	var broken error
	for _, f := range files {
		es, err := trails.List(ctx, f.FileID)
		if err != nil {
			return err
		}
		if err := report(out, f.FileID, es); err != nil {
			broken = err
		}
	}
	fmt.Fprintf(out, "%d files of %s checked\n", len(files), *partner)
	return broken
}

// report verifies one trail: its chain, then (anchors set) against
// every anchor of the file.
func report(ctx context.Context, out io.Writer, anchors *anchor.Store, fileID string, es []audit.Entry) error {
	if b := audit.Verify(es); b != nil {
		fmt.Fprintf(out, "BROKEN %s at entry %d: %s\n", fileID, b.Seq, b.Problem)
		return errBroken
	}
	if anchors == nil {
		fmt.Fprintf(out, "ok %s: %d entries chain intact\n", fileID, len(es))
		return nil
	}
	r, err := anchors.Check(ctx, fileID, es)
	if err != nil {
		return fmt.Errorf("checking %s against its anchors: %w", fileID, err)
	}
	if r.Status == anchor.Mismatch {
		fmt.Fprintf(out, "ANCHOR MISMATCH %s\n", r)
		return errBroken
	}
	fmt.Fprintf(out, "ok %s: %d entries chain intact; %s\n", fileID, len(es), r)
	return nil
}

// verifyCheckpoints checks the chain of checkpoints in the anchor bucket.
func verifyCheckpoints(ctx context.Context, out io.Writer, anchors *anchor.Store) error {
	if anchors == nil {
		return errors.New("no anchor bucket to check: set audit.anchor.bucket")
	}
	n, problems, err := anchors.VerifyCheckpoints(ctx, time.Time{})
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintf(out, "BROKEN checkpoint %s (written %s): %s\n", p.Anchor.Key, p.Anchor.WrittenAt.UTC().Format(time.RFC3339), p.Problem)
	}
	if len(problems) > 0 {
		return errBroken
	}
	fmt.Fprintf(out, "ok: %d checkpoints in s3://%s, each genuine and chained to the one before\n", n, anchors.Bucket)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
