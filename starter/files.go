package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/batch"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
)

// runList lists files from the DynamoDB record, the system of record (it
// outlives Temporal's history retention):
//
//	ferry list --status quarantined [--partner acme] [--limit 50]
func runList(args []string, out io.Writer) error {
	fs := pflag.NewFlagSet("list", pflag.ContinueOnError)
	config.BindFlags(fs)
	status := fs.String("status", "", "only files in this status (received, inspecting, quarantined, approved, rejected, delivering, delivered, failed)")
	partner := fs.String("partner", "", "only this partner's files")
	limit := fs.Int32("limit", 50, "with --status alone: at most this many files, newest first")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *status == "" && *partner == "" {
		return errors.New("give --status, --partner or both")
	}
	cfg, err := loadConfig(fs, *partner)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	store := filestore.New(cl.DynamoDB, cfg.DynamoDB.FilesTable)
	var want filestatus.Status
	if *status != "" {
		if want, err = filestatus.Parse(*status); err != nil {
			return err
		}
	}
	var files []filestore.File
	if *partner != "" {
		// All of the partner's files, filtered here: complete, not limited.
		files, err = store.ListByPartner(ctx, *partner)
	} else {
		files, err = store.ListByStatus(ctx, want, *limit)
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE ID\tPARTNER\tSTATUS\tUPDATED\tKEY\tREASON")
	n := 0
	for _, f := range files {
		if want != "" && f.Status != want {
			continue
		}
		reason := ""
		if len(f.Reasons) > 0 {
			reason = f.Reasons[0]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.FileID, f.Partner, f.Status, f.UpdatedAt, f.Key, reason)
		n++
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(out, "%d files\n", n)
	return nil
}

// runShow prints one file's record and its verified audit trail:
//
//	ferry show --workflow-id ID
func runShow(args []string, out io.Writer) error {
	fs := pflag.NewFlagSet("show", pflag.ContinueOnError)
	config.BindFlags(fs)
	id := fs.String("workflow-id", "", "the file's workflow ID")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id == "" {
		return errors.New("--workflow-id is required")
	}
	cfg, err := config.Load(fs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	f, err := filestore.New(cl.DynamoDB, cfg.DynamoDB.FilesTable).Get(ctx, *id)
	if errors.Is(err, filestore.ErrNotFound) {
		return fmt.Errorf("no file %s: check the ID (ferry list --status quarantined lists waiting files)", *id)
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("file", f.FileID)
	row("partner", f.Partner)
	row("status", string(f.Status))
	row("source", fmt.Sprintf("s3://%s/%s version %s", f.Bucket, f.Key, f.VersionID))
	if p, ok := cfg.Partners[f.Partner]; ok && p.Batch != nil {
		if folder, _, ok := batch.Folder(f.Partner, f.Key); ok {
			row("batch", fmt.Sprintf("%s (workflow %s): ferry batch --partner %s --folder %s", folder, batch.WorkflowID(f.Partner, f.Bucket, folder), f.Partner, folder))
		}
	}
	if p := f.Provenance(); p != nil {
		row("provenance", p.String())
	}
	row("size", fmt.Sprint(f.Size))
	row("sha256", f.SHA256)
	row("partner sha256", f.PartnerSHA256)
	if f.S3ChecksumAlg != "" {
		row("s3 checksum", f.S3ChecksumAlg+" "+f.S3Checksum)
	}
	if f.CiphertextSHA256 != "" {
		row("ciphertext sha256", fmt.Sprintf("%s (%d bytes, as uploaded)", f.CiphertextSHA256, f.CiphertextSize))
		row("ciphertext s3 checksum", f.CiphertextS3Checksum)
		row("decrypted with", f.DecryptedWith)
		row("signature", strings.TrimSpace(f.SignatureStatus+" "+f.SignerFingerprint))
	}
	if f.ScanVerdict != "" {
		row("malware scan", strings.TrimSpace(fmt.Sprintf("%s %s by %s (%s, signatures %s)", f.ScanVerdict, f.ScanFinding, f.Scanner, f.ScanEngine, f.ScanDatabase)))
	}
	if f.DestVersionID != "" {
		row("delivered", fmt.Sprintf("s3://%s/%s version %s", f.DestBucket, f.DestKey, f.DestVersionID))
		row("governance", strings.TrimSpace(fmt.Sprintf("%s %s %s", f.Encryption, f.RetentionMode, f.RetainUntil)))
	}
	if f.QuarantineVersionID != "" {
		row("quarantine copy", fmt.Sprintf("s3://%s/%s version %s", f.QuarantineBucket, f.QuarantineKey, f.QuarantineVersionID))
	}
	for _, r := range f.Reasons {
		row("reason", r)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	trail, err := (&audit.Store{DB: cl.DynamoDB, Table: cfg.DynamoDB.AuditTable}).List(ctx, *id)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\naudit trail:\n%s", audit.Summary(trail))
	return report(ctx, out, anchor.FromConfig(cl.S3, cfg), *id, trail)
}
