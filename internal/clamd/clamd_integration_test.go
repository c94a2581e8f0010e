//go:build integration

package clamd_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/clamd"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// eicar is the EICAR anti-virus test file: harmless, and found by every
// scanner, here by deploy/local/clamav/db's body signature.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// found is how clamd names what it found with the local database's
// signature (clamd marks signatures of unsigned databases UNOFFICIAL).
const found = "Eicar-Test-Signature.UNOFFICIAL"

func client(t *testing.T, address string, timeout time.Duration) *clamd.Client {
	t.Helper()
	c, err := clamd.New(address, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// scan sends the pieces, each in one Write, and returns the verdict.
func scan(c *clamd.Client, pieces ...[]byte) (clamd.Result, error) {
	s, err := c.Scan(context.Background())
	if err != nil {
		return clamd.Result{}, err
	}
	defer s.Abort()
	for _, p := range pieces {
		if n, err := s.Write(p); err != nil {
			return clamd.Result{}, err
		} else if n != len(p) {
			return clamd.Result{}, fmt.Errorf("Write(%d bytes) = %d, nil", len(p), n)
		}
	}
	return s.Close()
}

func TestCleanBytesAreClean(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), 30*time.Second)
	for name, pieces := range map[string][][]byte{
		"a small CSV":       {[]byte("id,qty\n1,5\n")},
		"nothing":           nil,
		"EICAR cut in half": {[]byte(eicar[:30]), []byte("\n"), []byte(eicar[30:])},
	} {
		res, err := scan(c, pieces...)
		if err != nil || !res.Clean || res.Signature != "" || res.Raw != "stream: OK" {
			t.Errorf("%s: %+v, %v; want clean", name, res, err)
		}
	}
}

func TestEICARIsFound(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), 30*time.Second)
	res, err := scan(c, []byte(eicar))
	if err != nil {
		t.Fatal(err)
	}
	want := clamd.Result{Signature: found, Raw: "stream: " + found + " FOUND"}
	if res != want {
		t.Fatalf("EICAR: %+v, want %+v", res, want)
	}
}

// csv is size bytes of CSV lines, with insert at offset when given.
func csv(size, offset int, insert string) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "lot-%07d,assay,98.7,passed,2026-11-24T06:00:00Z\n", i)
	}
	data := b.Bytes()[:size]
	if insert != "" {
		copy(data[offset:], insert)
	}
	return data
}

// EICAR in the middle of a 3 MiB CSV, written in pieces of odd sizes: the
// first write is split into two chunks right through it, the others are
// odd-sized, and an empty write in between must not end the stream.
func TestEICARInsideACSVWrittenInOddPieces(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), 30*time.Second)
	const size = 3 << 20
	at := clamd.ChunkSize - 30 // straddles the first chunk boundary
	for _, tc := range []struct {
		insert string
		clean  bool
	}{{"", true}, {eicar, false}} {
		data := csv(size, at, tc.insert)
		pieces := [][]byte{data[:clamd.ChunkSize+333]}
		for rest, i := data[clamd.ChunkSize+333:], 0; len(rest) > 0; i++ {
			n := min(len(rest), []int{7, 4093, 77777, 0, 1, clamd.ChunkSize + 1}[i%6])
			pieces = append(pieces, rest[:n])
			rest = rest[n:]
		}
		res, err := scan(c, pieces...)
		if err != nil {
			t.Fatal(err)
		}
		if res.Clean != tc.clean || (!tc.clean && res.Signature != found) {
			t.Errorf("CSV with %q at %d in %d writes: %+v, want clean=%v", tc.insert, at, len(pieces), res, tc.clean)
		}
	}
}

func TestVersionNamesTheEngine(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), 30*time.Second)
	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^ClamAV 1\.4\.\d+$`).MatchString(v.Engine) {
		t.Errorf("engine %q, want ClamAV 1.4.x (Debian's clamav-daemon)", v.Engine)
	}
	// The tests' clamd has only the local database: clamd names a database
	// version and date for Cisco's signed daily database alone.
	if v.Database != "" || !v.DatabaseTime.IsZero() || v.Raw != v.Engine {
		t.Errorf("version %+v: want no database version with only local signatures", v)
	}
}

func TestPing(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	if err := client(t, st.ClamdAddress(), 30*time.Second).Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// clamd refuses a stream once it passes StreamMaxLength, replies why and
// closes the connection. A writer that stops soon after gets the reply
// from Close; one that keeps writing meets a broken pipe, and gets the
// same reply from the Write that fails.
func TestAStreamLongerThanStreamMaxLengthIsRefused(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), 30*time.Second)
	chunk := csv(clamd.ChunkSize, 0, "")
	for _, tc := range []struct {
		name       string
		upTo       int  // bytes to write at most
		writeFails bool // a Write, not Close, gets the refusal
	}{
		{"stopping after the limit", stacktest.ClamdMaxStreamBytes + clamd.ChunkSize, false},
		{"writing on", 2 * stacktest.ClamdMaxStreamBytes, true},
	} {
		s, err := c.Scan(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Abort()
		sent := 0
		for sent < tc.upTo && err == nil {
			_, err = s.Write(chunk)
			sent += len(chunk)
		}
		if tc.writeFails && err == nil {
			t.Errorf("%s: %d bytes written to a clamd refusing more than %d: the test meant a Write to fail", tc.name, sent, stacktest.ClamdMaxStreamBytes)
		}
		if err == nil {
			_, err = s.Close()
		}
		t.Logf("%s: %v", tc.name, err)
		if !errors.Is(err, clamd.ErrStreamTooLarge) {
			t.Fatalf("%s: %d bytes to a clamd taking %d: %v, want ErrStreamTooLarge", tc.name, sent, stacktest.ClamdMaxStreamBytes, err)
		}
		if !strings.Contains(err.Error(), c.Address()) {
			t.Errorf("error %q does not name the clamd", err)
		}
		if _, again := s.Close(); !errors.Is(again, clamd.ErrStreamTooLarge) {
			t.Errorf("Close after the refusal: %v, want the same error", again)
		}
	}
}

// An archive that unpacks to more than clamd's MaxScanSize is not scanned
// whole: clamd says so (AlertExceedsMax), and it is not clean.
func TestAScanCutShortByALimitIsNotClean(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), time.Minute)
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	z.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestSpeed) })
	w, err := z.Create("zeros.csv")
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	for range stacktest.ClamdMaxStreamBytes>>20 + 1 {
		_, _ = w.Write(zeros)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := scan(c, b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if res.Clean || !res.LimitsExceeded || !strings.HasPrefix(res.Signature, "Heuristics.Limits.Exceeded.") {
		t.Fatalf("a %d-byte zip of %d MiB: %+v, want a limit exceeded", b.Len(), stacktest.ClamdMaxStreamBytes>>20+1, res)
	}
}

func TestTheUnixSocketServesTheSame(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdSocketAddress(), 30*time.Second)
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := scan(c, []byte("id,note\n1,"), []byte(eicar), []byte("\n"))
	if err != nil || res.Signature != found {
		t.Fatalf("EICAR over %s: %+v, %v", c.Address(), res, err)
	}
}

func TestOneClientScansManyStreamsAtOnce(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), 30*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			insert := ""
			if i%2 == 1 {
				insert = eicar
			}
			res, err := scan(c, csv(256<<10, 1000*i, insert))
			switch {
			case err != nil:
				errs <- fmt.Errorf("stream %d: %w", i, err)
			case res.Clean != (insert == ""):
				errs <- fmt.Errorf("stream %d (EICAR: %v): %+v", i, insert != "", res)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestAbort(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), 30*time.Second)
	s, err := c.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte(eicar)); err != nil {
		t.Fatal(err)
	}
	s.Abort()
	s.Abort()
	if _, err := s.Write([]byte("more")); err == nil {
		t.Error("Write after Abort succeeded")
	}
	if res, err := s.Close(); err == nil || res.Clean || res.Signature != "" {
		t.Errorf("Close after Abort: %+v, %v; want an error and no verdict", res, err)
	}

	s, err = c.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Close(); err != nil || !res.Clean {
		t.Fatalf("empty stream: %+v, %v", res, err)
	}
	s.Abort() // after Close: nothing to do, nothing breaks
	if res, err := s.Close(); err != nil || !res.Clean {
		t.Errorf("Close again after Abort: %+v, %v; want the verdict again", res, err)
	}
}

func TestAClosedPortIsAnErrorNamingTheAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := "tcp://" + l.Addr().String()
	l.Close()
	c := client(t, address, 5*time.Second)
	err = c.Ping(context.Background())
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), address) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Ping of %s: %v, want connection refused naming it", address, err)
	}
	if _, err := c.Scan(context.Background()); err == nil || !strings.Contains(err.Error(), address) {
		t.Errorf("Scan of %s: %v, want an error naming it", address, err)
	}
}

// A clamd that dies mid-stream gives an error, never a verdict; the next
// scan after it is back works.
func TestAClamdThatDiesMidStreamIsAnError(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	c := client(t, st.ClamdAddress(), 30*time.Second)
	s, err := c.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	if _, err := s.Write(csv(100<<10, 0, "")); err != nil {
		t.Fatal(err)
	}
	st.Kill(t, stacktest.ClamdProcess)
	chunk := csv(clamd.ChunkSize, 0, "")
	for i := 0; i < 16 && err == nil; i++ {
		_, err = s.Write(chunk)
	}
	var res clamd.Result
	if err == nil {
		res, err = s.Close()
	}
	if err == nil || res.Clean {
		t.Fatalf("clamd killed mid-stream: %+v, %v; want an error", res, err)
	}
	t.Log(err)
	if err := c.Ping(context.Background()); err == nil {
		t.Fatal("Ping of a killed clamd succeeded")
	}

	st.Start(t, stacktest.ClamdProcess)
	if res, err := scan(c, []byte(eicar)); err != nil || res.Signature != found {
		t.Fatalf("after clamd is back: %+v, %v", res, err)
	}
}

// stall stops the test's clamd (SIGSTOP) until the test ends: it accepts
// connections (the kernel does) and reads and answers nothing.
func stall(t *testing.T, st *stacktest.Stack) {
	t.Helper()
	pid := st.PID(t, stacktest.ClamdProcess)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
}

// returns waits for f's error; a stuck call fails the test rather than
// hanging it until go test's timeout.
func returns(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not return", what)
		return nil
	}
}

func TestTheTimeoutEndsAStuckScan(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	stall(t, st)
	c := client(t, st.ClamdAddress(), 500*time.Millisecond)
	// Sending: the connection's buffers fill, then writes block.
	err := returns(t, "a Write to a stalled clamd", func() error {
		s, err := c.Scan(context.Background())
		if err != nil {
			return err
		}
		defer s.Abort()
		chunk := csv(clamd.ChunkSize, 0, "")
		for range stacktest.ClamdMaxStreamBytes >> 20 {
			if _, err := s.Write(chunk); err != nil {
				return err
			}
		}
		return errors.New("64 MiB sent to a stalled clamd")
	})
	t.Log(err)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "did not answer within 500ms") {
		t.Errorf("writing to a stalled clamd: %v, want its timeout", err)
	}
	// Waiting for the verdict.
	err = returns(t, "Close on a stalled clamd", func() error {
		res, err := scan(c, []byte(eicar))
		if err == nil {
			return fmt.Errorf("a verdict from a stalled clamd: %+v", res)
		}
		return err
	})
	t.Log(err)
	if !errors.Is(err, os.ErrDeadlineExceeded) || !strings.Contains(err.Error(), "reading the reply") {
		t.Errorf("waiting for a stalled clamd's verdict: %v, want its timeout", err)
	}
}

func TestCancellingEndsAStuckScan(t *testing.T) {
	st := stacktest.Require(t, stacktest.Clamd)
	stall(t, st)
	c := client(t, st.ClamdAddress(), time.Hour) // only the context can end it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	if _, err := s.Write([]byte(eicar)); err != nil {
		t.Fatal(err)
	}
	// Cancel once Close waits for the verdict (if it does not wait yet,
	// Close sees the cancellation as it begins; the outcome is the same).
	time.AfterFunc(300*time.Millisecond, cancel)
	err = returns(t, "Close on a stalled clamd after cancelling", func() error {
		res, err := s.Close()
		if err == nil {
			return fmt.Errorf("a verdict from a stalled clamd: %+v", res)
		}
		return err
	})
	t.Log(err)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), c.Address()) {
		t.Errorf("cancelled scan: %v, want context.Canceled naming the clamd", err)
	}
}
