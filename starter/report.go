package starter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/pflag"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/ferrydata/ferry/internal/anchor"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/evidence"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/temporalclient"
)

// anchorCheck checks a file's audit chain against the heads anchored for
// it in the Object Lock bucket (internal/anchor), for the report.
type anchorCheck struct{ anchors *anchor.Store }

func (a anchorCheck) CheckAnchor(ctx context.Context, fileID string, chain []audit.Entry) (evidence.Anchor, error) {
	r, err := a.anchors.Check(ctx, fileID, chain)
	if err != nil {
		return evidence.Anchor{}, fmt.Errorf("checking the anchors of %s: %w", fileID, err)
	}
	state := map[anchor.Status]string{anchor.Verified: evidence.AnchorVerified, anchor.Mismatch: evidence.AnchorMismatch, anchor.NotAnchored: evidence.AnchorNotAnchored}[r.Status]
	return evidence.Anchor{State: state, Detail: r.String()}, nil
}

// runReport writes evidence reports, HTML and JSON, into --out:
//
//	ferry report --file-id ID --out DIR
//	ferry report --partner acme --from 2026-11-01 --to 2026-12-01 --out DIR
func runReport(args []string, out io.Writer) error {
	fs := pflag.NewFlagSet("report", pflag.ContinueOnError)
	config.BindFlags(fs)
	fileID := fs.String("file-id", "", "the file's workflow ID (ingest-<partner>-<hash>)")
	partner := fs.String("partner", "", "report every file of this partner received from --from to --to")
	fromS := fs.String("from", "", "with --partner: files received at or after this time (RFC 3339, or a date 2006-01-02 meaning its 00:00 UTC)")
	toS := fs.String("to", "", "with --partner: files received before this time (same forms)")
	outDir := fs.String("out", "", "the directory the report is written to (created if missing)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*fileID == "") == (*partner == "") {
		return errors.New("give exactly one of --file-id ID or --partner NAME --from TIME --to TIME")
	}
	if *outDir == "" {
		return errors.New("--out DIR is required: the directory the HTML and JSON reports are written to")
	}
	var from, to time.Time
	if *partner != "" {
		if *fromS == "" || *toS == "" {
			return errors.New("--partner needs --from and --to (RFC 3339 like 2026-11-01T00:00:00Z, or a date like 2026-11-01)")
		}
		var err error
		if from, err = reportTime("--from", *fromS); err != nil {
			return err
		}
		if to, err = reportTime("--to", *toS); err != nil {
			return err
		}
		if !from.Before(to) {
			return fmt.Errorf("--from %s is not before --to %s: give the earlier time as --from", from.Format(time.RFC3339), to.Format(time.RFC3339))
		}
	} else if *fromS != "" || *toS != "" {
		return errors.New("--from and --to go with --partner, not with --file-id")
	}
	if err := writableDir(*outDir); err != nil {
		return err
	}
	cfg, err := loadConfig(fs, *partner)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cl, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	g := &gatherer{
		files: filestore.New(cl.DynamoDB, cfg.DynamoDB.FilesTable),
		trail: &audit.Store{DB: cl.DynamoDB, Table: cfg.DynamoDB.AuditTable},
	}
	// Without audit.anchor.bucket every file reads "not anchored: no
	// anchor configured".
	if anchors := anchor.FromConfig(cl.S3, cfg); anchors != nil {
		g.anchor = anchorCheck{anchors}
	}
	// Without Temporal the report still stands on the record and the
	// trail; each file says what could not be read.
	if tc, err := temporalclient.Dial(cfg.Temporal, slog.New(slog.DiscardHandler)); err != nil {
		g.temporalDown = err.Error()
	} else {
		defer tc.Close()
		g.temporal = tc
	}

	r := &evidence.Report{GeneratedAt: time.Now().UTC()}
	var name string
	if *fileID != "" {
		rec, err := g.files.Get(ctx, *fileID)
		if errors.Is(err, filestore.ErrNotFound) {
			return fmt.Errorf("no file %s in table %s: check the ID (ferry list --partner P lists a partner's files)", *fileID, cfg.DynamoDB.FilesTable)
		}
		if err != nil {
			return err
		}
		f, err := g.file(ctx, rec)
		if err != nil {
			return err
		}
		r.Title, r.Scope, r.Files = "Evidence report: "+rec.FileID, "File "+rec.FileID+" of partner "+rec.Partner, []evidence.File{f}
		name = rec.FileID
	} else {
		recs, err := g.files.ListByPartner(ctx, *partner)
		if err != nil {
			return err
		}
		var in []filestore.File
		for _, rec := range recs {
			at, err := time.Parse(time.RFC3339Nano, rec.ReceivedAt)
			if err == nil && !at.Before(from) && at.Before(to) {
				in = append(in, rec)
			}
		}
		sort.Slice(in, func(i, j int) bool { return in[i].ReceivedAt < in[j].ReceivedAt })
		for i := range in {
			f, err := g.file(ctx, &in[i])
			if err != nil {
				return err
			}
			r.Files = append(r.Files, f)
		}
		r.Partner, r.From, r.To = *partner, from, to
		r.Title = "Evidence report: partner " + *partner
		r.Scope = fmt.Sprintf("%d files of partner %s received from %s to %s", len(r.Files), *partner, from.Format(time.RFC3339), to.Format(time.RFC3339))
		name = fmt.Sprintf("%s_%s_%s", *partner, from.Format("20060102T150405Z"), to.Format("20060102T150405Z"))
	}
	htmlPath, jsonPath := filepath.Join(*outDir, name+".html"), filepath.Join(*outDir, name+".json")
	if err := writeFile(htmlPath, r.WriteHTML); err != nil {
		return err
	}
	if err := writeFile(jsonPath, r.WriteJSON); err != nil {
		return err
	}
	broken := 0
	for _, f := range r.Files {
		if !f.Chain.Intact || f.Anchor.State == evidence.AnchorMismatch {
			broken++
		}
	}
	fmt.Fprintf(out, "%s\n%s\n%d files reported\n", htmlPath, jsonPath, len(r.Files))
	if broken > 0 {
		// The report is written, and says where; the exit code says so too.
		return fmt.Errorf("%d of %d files have an audit chain that does not verify: see the report: %w", broken, len(r.Files), errBroken)
	}
	return nil
}

// gatherer reads one file's sources for the evidence report.
type gatherer struct {
	files        *filestore.Store
	trail        *audit.Store
	anchor       evidence.AnchorChecker
	temporal     client.Client
	temporalDown string
}

func (g *gatherer) file(ctx context.Context, rec *filestore.File) (evidence.File, error) {
	trail, err := g.trail.List(ctx, rec.FileID)
	if err != nil {
		return evidence.File{}, err
	}
	s := evidence.Sources{Record: rec, Trail: trail, Anchor: evidence.NoAnchor}
	if g.anchor != nil {
		if s.Anchor, err = g.anchor.CheckAnchor(ctx, rec.FileID, trail); err != nil {
			return evidence.File{}, fmt.Errorf("checking the audit chain of %s against its anchor: %w", rec.FileID, err)
		}
	}
	s.Input, s.State, s.WorkflowNote = g.workflow(ctx, rec)
	return evidence.Build(s), nil
}

// workflow reads the file's workflow input and asks its status query.
// A workflow past Temporal's retention, or a Temporal that cannot be
// reached, leaves both nil with a note: the record and the trail are the
// evidence of record.
func (g *gatherer) workflow(ctx context.Context, rec *filestore.File) (*ingest.Input, *ingest.FileState, string) {
	if g.temporal == nil {
		return nil, nil, "Temporal could not be reached: " + g.temporalDown
	}
	var notFound *serviceerror.NotFound
	it := g.temporal.GetWorkflowHistory(ctx, rec.FileID, rec.WorkflowRunID, false, 0)
	if !it.HasNext() {
		return nil, nil, "Temporal holds no history for it"
	}
	first, err := it.Next()
	if errors.As(err, &notFound) {
		return nil, nil, "Temporal no longer holds the workflow (past its retention)"
	}
	if err != nil {
		return nil, nil, "reading its history: " + err.Error()
	}
	var in ingest.Input
	if err := converter.GetDefaultDataConverter().FromPayloads(first.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in); err != nil {
		return nil, nil, "reading its input: " + err.Error()
	}
	// A closed workflow's query is answered by a worker replaying it: do
	// not wait long for one.
	qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	q, err := g.temporal.QueryWorkflow(qctx, rec.FileID, rec.WorkflowRunID, ingest.StatusQuery)
	if err != nil {
		return &in, nil, "its status query was not answered (is a worker running?): " + err.Error()
	}
	var st ingest.FileState
	if err := q.Get(&st); err != nil {
		return &in, nil, "decoding its status: " + err.Error()
	}
	return &in, &st, ""
}

// reportTime reads --from or --to.
func reportTime(flag, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s %q is not a time: give RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)", flag, v)
}

// writableDir creates dir if needed and proves a file can be written in
// it, before anything is gathered.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out %s cannot be created: %w (give a directory you can write to)", dir, err)
	}
	f, err := os.CreateTemp(dir, ".ferry-report-*")
	if err != nil {
		return fmt.Errorf("--out %s is not writable: %w (give a directory you can write to)", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// writeFile writes path through a temporary file, so a failed render
// leaves no half-written report behind.
func writeFile(path string, render func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ferry-report-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := render(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
