//go:build integration

package activities_test

import (
	"context"
	"crypto/sha256"
	"flag"
	"io"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/rules"
	"github.com/ferrydata/ferry/internal/stacktest"
)

var scanMiB = flag.Int("scan-mib", 48, "size in MiB of BenchmarkInspectScanning's object (below the test clamd's 64 MiB stream limit)")

// BenchmarkInspectScanning measures the inspection pass with malware
// scanning on and off against a bare streamed GET through SHA-256 of the
// same object, on the same MinIO and clamd, interleaved iteration by
// iteration (one sample on a shared machine is noise), and reports the
// medians and their ratios:
//
//   - inspect ÷ GET+SHA-256: what the one-pass checks cost over the least
//     a checksumming reader does;
//   - inspect+scan ÷ GET+SHA-256, and ÷ inspect: what clamd adds, which
//     overlaps the read on its own goroutine.
//
// Figures only, never pass/fail (make bench):
//
//	go test -tags integration -run '^$' -bench InspectScanning -benchtime 5x ./activities/
func BenchmarkInspectScanning(b *testing.B) {
	f := newScanningFixture(b)
	size := int64(*scanMiB) << 20
	key := "acme/inbound/bench.csv"
	body := textRows(int(size / 40))[:size]
	ref := f.ref(key, f.put(b, key, body))
	plain := rules.Rules{AllowedExtensions: []string{".csv"}, CheckContent: true}
	scanning := plain
	scanning.Scan = true

	var bare, off, on []float64
	for b.Loop() {
		bare = append(bare, timed(func() { getSHA(b, f, ref) }))
		off = append(off, timed(func() { inspectOK(b, f, ref, plain) }))
		on = append(on, timed(func() { inspectOK(b, f, ref, scanning) }))
	}
	mb := float64(len(body)) / (1 << 20)
	b.ReportMetric(mb/stacktest.Median(bare), "get+sha-MiB/s")
	b.ReportMetric(mb/stacktest.Median(off), "inspect-MiB/s")
	b.ReportMetric(mb/stacktest.Median(on), "inspect+scan-MiB/s")
	b.ReportMetric(stacktest.Median(off)/stacktest.Median(bare), "inspect/get+sha")
	b.ReportMetric(stacktest.Median(on)/stacktest.Median(bare), "inspect+scan/get+sha")
	b.ReportMetric(stacktest.Median(on)/stacktest.Median(off), "scan-on/scan-off")
	b.ReportMetric(0, "ns/op")
}

func timed(fn func()) float64 {
	start := time.Now()
	fn()
	return time.Since(start).Seconds()
}

func getSHA(b *testing.B, f *fixture, ref activities.FileRef) {
	b.Helper()
	obj, err := f.stack.AWS.S3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(ref.Bucket), Key: aws.String(ref.Key), VersionId: aws.String(ref.VersionID)})
	if err != nil {
		b.Fatal(err)
	}
	defer obj.Body.Close()
	if _, err := io.CopyBuffer(sha256.New(), obj.Body, make([]byte, 1<<20)); err != nil {
		b.Fatal(err)
	}
}

func inspectOK(b *testing.B, f *fixture, ref activities.FileRef, r rules.Rules) {
	b.Helper()
	if _, err := f.inspect(b, ref, r); err != nil {
		b.Fatal(err)
	}
}
