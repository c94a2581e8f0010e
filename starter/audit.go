package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/filestore"
)

// errBroken makes the command exit 1 once every trail has been reported.
var errBroken = errors.New("audit verification failed")

// runAudit shows and verifies audit trails:
//
//	ferry audit --file-id ID      print one file's trail and verify it
//	ferry audit --partner acme    verify the trail of every file of a partner
func runAudit(args []string, out io.Writer) error {
	fs := pflag.NewFlagSet("audit", pflag.ContinueOnError)
	config.BindFlags(fs)
	fileID := fs.String("file-id", "", "the file's workflow ID")
	partner := fs.String("partner", "", "verify every file of this partner")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*fileID == "") == (*partner == "") {
		return errors.New("give exactly one of --file-id ID or --partner NAME")
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

func report(out io.Writer, fileID string, es []audit.Entry) error {
	if b := audit.Verify(es); b != nil {
		fmt.Fprintf(out, "BROKEN %s at entry %d: %s\n", fileID, b.Seq, b.Problem)
		return errBroken
	}
	fmt.Fprintf(out, "ok %s: %d entries chain intact\n", fileID, len(es))
	return nil
}
