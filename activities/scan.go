package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/ferrydata/ferry/internal/clamd"
	"github.com/ferrydata/ferry/internal/ingest"
	"github.com/ferrydata/ferry/internal/rules"
)

// ErrScannerUnavailable: the malware scanner could not be reached or did
// not answer. It is retried (the file waits, visible as the pending
// activity's last failure) and never taken for "clean".
const ErrScannerUnavailable = "ScannerUnavailable"

// scan is one file's malware scan, fed by the inspection's read. A nil
// *scan is a file whose partner's rules do not scan.
type scan struct {
	a     *Activities
	facts ingest.ScanFacts
	w     *scanWriter // nil when the file is known to be too large
}

// startScan asks the scanner who it is (engine and signature database,
// recorded with the verdict) and opens a stream to it, unless the file is
// already known to be larger than the scanner takes (size < 0: unknown,
// as for a plaintext being decrypted).
func (a *Activities) startScan(ctx context.Context, r rules.Rules, size int64) (*scan, error) {
	if !r.Scan {
		return nil, nil
	}
	if a.Scanner == nil {
		return nil, fmt.Errorf("the partner's rules scan files for malware, but this worker has no scanner: set scanner.clamd in the worker's config")
	}
	v, err := a.Scanner.Version(ctx)
	if err != nil {
		return nil, scannerUnavailable(a.Scanner, "asking its version", err)
	}
	s := &scan{a: a, facts: ingest.ScanFacts{Scanner: "clamd " + a.Scanner.Address(), Engine: v.Engine, Database: database(v)}}
	if size > a.ScanMaxBytes {
		s.tooLarge()
		return s, nil
	}
	stream, err := a.Scanner.Scan(ctx)
	if err != nil {
		return nil, scannerUnavailable(a.Scanner, "opening a scan", err)
	}
	s.w = &scanWriter{stream: stream, limit: a.ScanMaxBytes, client: a.Scanner}
	return s, nil
}

func database(v clamd.Version) string {
	if v.Database == "" {
		return v.Raw
	}
	if v.DatabaseTime.IsZero() {
		return v.Database
	}
	return v.Database + " (" + v.DatabaseTime.UTC().Format("2006-01-02 15:04 MST") + ")"
}

// writer is what the read feeds; nil when nothing is streamed.
func (s *scan) writer() io.Writer {
	if s == nil || s.w == nil {
		return nil
	}
	return s.w
}

func (s *scan) tooLarge() {
	s.facts.Verdict = ingest.ScanNotScanned
	s.facts.Note = fmt.Sprintf("too large to scan: over the scanner's limit of %d bytes (scanner.max_stream_bytes)", s.a.ScanMaxBytes)
}

// finish ends the stream and turns the scanner's verdict into the scan's
// facts and the reasons it gives to quarantine the file.
func (s *scan) finish(r rules.Rules) (ingest.ScanFacts, []rules.Reason, error) {
	if s == nil {
		return ingest.ScanFacts{}, nil, nil
	}
	if s.w != nil && !s.w.over {
		res, err := s.w.stream.Close()
		switch {
		case errors.Is(err, clamd.ErrStreamTooLarge) || (err == nil && res.LimitsExceeded):
			// clamd's own limits are below scanner.max_stream_bytes: it
			// scanned only part of the file, which is no verdict.
			s.tooLarge()
			s.facts.Note += "; clamd's StreamMaxLength, MaxScanSize or MaxFileSize is lower: align them"
		case err != nil:
			return ingest.ScanFacts{}, nil, scannerUnavailable(s.a.Scanner, "reading the verdict", err)
		case res.Clean:
			s.facts.Verdict = ingest.ScanClean
		default:
			s.facts.Verdict, s.facts.Signature = ingest.ScanFound, res.Signature
		}
	} else if s.w != nil {
		s.tooLarge()
	}
	switch {
	case s.facts.Verdict == ingest.ScanFound:
		return s.facts, []rules.Reason{{Class: rules.ClassMalware, Message: fmt.Sprintf(
			"malware found: %s (%s, signatures %s) — do not open the file; the partner must check the system it came from and send a clean file",
			s.facts.Signature, s.facts.Engine, s.facts.Database)}}, nil
	case s.facts.Verdict == ingest.ScanNotScanned && r.ScanTooLarge != rules.ScanTooLargeDeliver:
		return s.facts, []rules.Reason{{Class: rules.ClassUnscanned, Message: fmt.Sprintf(
			"%s, and this partner's policy quarantines files that cannot be scanned (rules.scan_too_large): an approver may release it unscanned, or the partner sends it in smaller files",
			s.facts.Note)}}, nil
	}
	return s.facts, nil, nil
}

// abort drops a stream that did not finish (the read failed).
func (s *scan) abort() {
	if s != nil && s.w != nil {
		s.w.stream.Abort()
	}
}

// scanWriter streams the bytes to clamd, up to limit; beyond it the file
// is too large to scan and the rest is not sent.
type scanWriter struct {
	stream *clamd.Stream
	client *clamd.Client
	limit  int64
	n      int64
	over   bool
}

func (w *scanWriter) Write(p []byte) (int, error) {
	if w.over {
		return len(p), nil
	}
	if w.n+int64(len(p)) > w.limit {
		w.over = true
		w.stream.Abort()
		return len(p), nil
	}
	w.n += int64(len(p))
	if _, err := w.stream.Write(p); err != nil {
		if errors.Is(err, clamd.ErrStreamTooLarge) {
			w.over = true
			return len(p), nil
		}
		return 0, scannerUnavailable(w.client, "streaming the file", err)
	}
	return len(p), nil
}

func scannerUnavailable(c *clamd.Client, doing string, err error) error {
	msg := fmt.Sprintf("malware scanner (clamd at %s) failed %s: %v; the file waits and is inspected again when the scanner answers", c.Address(), doing, err)
	return temporal.NewApplicationErrorWithOptions(strings.TrimSpace(msg), ErrScannerUnavailable, temporal.ApplicationErrorOptions{Cause: err})
}
