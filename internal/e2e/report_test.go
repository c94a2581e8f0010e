//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ferrydata/ferry/internal/evidence"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/filestore"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// page is what a person sees of a report in a real browser.
type page struct {
	text       string // document.body.innerText
	screenshot string // PNG file
	pdf        []byte
}

// browse opens an HTML file in headless Chromium (Debian's, started with
// the flags the local stack's browser tests use and a fresh profile),
// reads its visible text, takes a full-page screenshot and prints it.
func browse(t *testing.T, st *stacktest.Stack, file string) page {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(st.Chromium()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser, chromedp.Navigate("file://"+file)); err != nil {
		t.Fatalf("opening %s in Chromium: %v", file, err)
	}
	var p page
	var err error
	if p.text, err = chromedp.Run(browser, chromedp.Evaluate[string]("document.body.innerText")); err != nil {
		t.Fatalf("reading the report's visible text: %v", err)
	}
	shot, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	// A full-page screenshot of a report is as wide as the window and
	// taller than a screen.
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 900 {
		t.Errorf("screenshot is %dx%d, want the whole report", b.Dx(), b.Dy())
	}
	p.screenshot = filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(file), ".html")+".png")
	if err := os.WriteFile(p.screenshot, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of %s: %s (%d bytes, %dx%d)", filepath.Base(file), p.screenshot, len(shot), img.Bounds().Dx(), img.Bounds().Dy())
	if p.pdf, err = chromedp.Run(browser, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4))); err != nil {
		t.Fatalf("printing to PDF: %v", err)
	}
	if pages := pdfPages(p.pdf); !bytes.HasPrefix(p.pdf, []byte("%PDF-")) || pages < 1 {
		t.Fatalf("print gave %d bytes with %d pages, want a PDF of at least one page", len(p.pdf), pages)
	}
	return p
}

// pdfPages is the page count of the PDF's page tree (its root /Pages
// dictionary's /Count: the largest, as nested trees count their parts).
func pdfPages(pdf []byte) int {
	n := 0
	for _, m := range regexp.MustCompile(`/Type\s*/Pages\b[^>]*?/Count\s+(\d+)|/Count\s+(\d+)[^>]*?/Type\s*/Pages\b`).FindAllSubmatch(pdf, -1) {
		for _, g := range m[1:] {
			if c, err := strconv.Atoi(string(g)); err == nil && c > n {
				n = c
			}
		}
	}
	return n
}

// s3Checksum is what the report says of the checksum S3 stored.
func s3Checksum(rec *filestore.File) string {
	if rec.S3ChecksumAlg == "" {
		return "S3 stored no checksum for the upload"
	}
	return rec.S3ChecksumAlg + " " + rec.S3Checksum + " matches the bytes read"
}

// The evidence report of a file quarantined, approved by two signed
// approvals and delivered, and of a partner's range holding a file
// delivered straight, read in Chromium as a reviewer would.
func TestEvidenceReportInChromium(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	from := time.Now().UTC().Add(-time.Minute)
	files := filestore.New(st.AWS.DynamoDB, st.Config.DynamoDB.FilesTable)

	// globex: a wrong sidecar quarantines the file; carol and dave sign
	// their approvals.
	held, _ := quarantinedShipment(t, st, "<shipment id=\"11\"/>\n")
	keys := filepath.Join(st.Root, "deploy/local/keys")
	for _, a := range []struct{ who, why string }{{"carol", "sidecar typo confirmed by globex"}, {"dave", "agreed after a call"}} {
		if out, err := ferryCmd(t, st, "approve", "--workflow-id", held, "--approver", a.who, "--reason", a.why, "--key", filepath.Join(keys, a.who)); err != nil {
			t.Fatalf("%s's signed approval: %v\n%s", a.who, err, out)
		}
	}
	if res := waitResult(t, st, held); res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered", res)
	}
	// acme: delivered straight.
	straightName := stacktest.Unique("orders-") + ".csv"
	if out, err := sftpBatch(t, st, "acme", "cd /landing/acme/inbound", "put "+localFile(t, straightName, []byte("id,qty\n1,2\n"))); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	straight := findWorkflow(t, st, fmt.Sprintf(`Partner="acme" AND ObjectKey="acme/inbound/%s"`, straightName))
	if res := waitResult(t, st, straight); res.Status != filestatus.Delivered {
		t.Fatalf("result %+v, want delivered", res)
	}
	to := time.Now().UTC().Add(time.Minute)

	out := filepath.Join(t.TempDir(), "reports")
	if o, err := ferryCmd(t, st, "report", "--file-id", held, "--out", out); err != nil {
		t.Fatalf("ferry report --file-id: %v\n%s", err, o)
	}
	if o, err := ferryCmd(t, st, "report", "--partner", "acme", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--out", out); err != nil {
		t.Fatalf("ferry report --partner: %v\n%s", err, o)
	}
	rangeName := fmt.Sprintf("acme_%s_%s", from.Format("20060102T150405Z"), to.Format("20060102T150405Z"))

	for _, c := range []struct {
		doc, id string
		more    []string // facts only this file has
	}{
		{held, held, []string{
			"Partner's checksum sidecar", "the sidecar says SHA-256 " + strings.Repeat("0", 64), "Quarantine",
			// Each approver with the meaning of the signature.
			"carol", "dave", "sidecar typo confirmed by globex", "agreed after a call",
			"signed by carol at", "signed by dave at", "approved for release",
		}},
		{rangeName, straight, nil},
	} {
		t.Run(c.id, func(t *testing.T) {
			rec, err := files.Get(context.Background(), c.id)
			if err != nil {
				t.Fatal(err)
			}
			p := browse(t, st, filepath.Join(out, c.doc+".html"))
			prov := rec.Provenance()
			if prov == nil {
				t.Fatalf("record %s has no provenance", c.id)
			}
			retention := "none"
			if rec.RetentionMode != "" {
				retention = rec.RetentionMode + " until " + rec.RetainUntil
			}
			want := append([]string{
				c.id, rec.Partner, "s3://" + rec.Bucket + "/" + rec.Key,
				// Provenance.
				prov.Principal, "127.0.0.1", prov.RequestID,
				// Checksums and checks.
				rec.SHA256, s3Checksum(rec),
				"Partner rules", "SHA-256 of the bytes read", "Checksum stored by S3", "Malware scan", "Delivered copy verified",
				// Delivery.
				rec.DestVersionID, rec.Encryption, retention,
				// The audit chain.
				"Chain verified", "Anchor: verified: " + c.id + ": matches its",
			}, c.more...)
			for _, w := range want {
				if w == "" || !strings.Contains(p.text, w) {
					t.Errorf("the report as Chromium shows it lacks %q", w)
				}
			}
			if t.Failed() {
				t.Logf("visible text:\n%s", p.text)
			}

			// The JSON holds the same facts.
			b, err := os.ReadFile(filepath.Join(out, c.doc+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var r evidence.Report
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatalf("the JSON report does not decode: %v", err)
			}
			var f *evidence.File
			for i := range r.Files {
				if r.Files[i].FileID == c.id {
					f = &r.Files[i]
				}
			}
			switch {
			case f == nil:
				t.Fatalf("the JSON report lacks %s", c.id)
			case f.Provenance == nil || f.Provenance.Principal != prov.Principal || f.Provenance.SourceIP != prov.SourceIP ||
				f.Provenance.RequestID != prov.RequestID || !f.Provenance.EventTime.Equal(prov.EventTime):
				t.Errorf("JSON provenance %+v, record %+v", f.Provenance, prov)
			case f.Delivery == nil || f.Delivery.VersionID != rec.DestVersionID || f.Delivery.Encryption != rec.Encryption:
				t.Errorf("JSON delivery %+v, record %+v", f.Delivery, rec)
			case !f.Chain.Intact || f.Anchor.State != evidence.AnchorVerified || !strings.Contains(f.Anchor.Detail, "anchors/"):
				// Each file anchored its trail's head at its final status.
				t.Errorf("JSON chain %q, anchor %+v, want verified against its anchor", f.Chain.Result, f.Anchor)
			}
			if c.id == held {
				signed := 0
				for _, d := range f.Decisions {
					if d.Accepted && d.Signed && d.Meaning == "approved for release" && (d.Approver == "carol" || d.Approver == "dave") {
						signed++
					}
				}
				if signed != 2 {
					t.Errorf("JSON decisions %+v, want carol's and dave's signed approvals", f.Decisions)
				}
			}
		})
	}
}
