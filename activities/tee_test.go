package activities

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash/crc32"
	"io"
	"testing"
	"testing/iotest"
)

func TestTeeParallelFeedsBothSidesEveryByteInOrder(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	for _, tc := range []struct {
		name string
		src  io.Reader
		buf  int
	}{
		{"big buffers", bytes.NewReader(data), 1 << 20},
		{"tiny buffers", bytes.NewReader(data), 7},
		{"one byte reads", iotest.OneByteReader(bytes.NewReader(data[:50_000])), 4096},
		{"half reads", iotest.HalfReader(bytes.NewReader(data)), 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			expect := data
			if tc.name == "one byte reads" {
				expect = data[:50_000]
			}
			sha, crc := sha256.New(), crc32.NewIEEE()
			n, err := teeParallel(src, tc.buf, 3, sha, crc)
			if err != nil || n != int64(len(expect)) {
				t.Fatalf("n=%d err=%v, want %d bytes", n, err, len(expect))
			}
			wantSHA := sha256.Sum256(expect)
			if tc.name != "one byte reads" {
				wantSHA = want
			}
			if !bytes.Equal(sha.Sum(nil), wantSHA[:]) || crc.Sum32() != crc32.ChecksumIEEE(expect) {
				t.Fatal("a side saw different bytes than were read")
			}
		})
	}
}

type failingWriter struct{ after int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.after -= len(p); f.after < 0 {
		return 0, errors.New("stop")
	}
	return len(p), nil
}

func TestTeeParallelReportsErrors(t *testing.T) {
	data := make([]byte, 1<<20)
	if _, err := teeParallel(bytes.NewReader(data), 4096, 3, io.Discard, &failingWriter{after: 1000}); err == nil || err.Error() != "stop" {
		t.Fatalf("writer error lost: %v", err)
	}
	if _, err := teeParallel(iotest.ErrReader(errors.New("reset")), 4096, 3, io.Discard, io.Discard); err == nil || err.Error() != "reset" {
		t.Fatalf("read error lost: %v", err)
	}
}

// BenchmarkInspectPass compares feeding the inspection's consumers serially
// (io.MultiWriter) with teeParallel, in memory, without network noise.
// go test -bench InspectPass -run XXX ./activities/
func BenchmarkInspectPass(b *testing.B) {
	data := bytes.Repeat([]byte("lot,0000123,assay,98.7,passed,2026-11-24T06:00:00Z\n"), (64<<20)/52)
	others := func() io.Writer {
		return io.MultiWriter(crc32.New(crc32.MakeTable(crc32.Castagnoli)), rulesContent(), io.Discard)
	}
	b.Run("serial", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			_, _ = io.CopyBuffer(io.MultiWriter(sha256.New(), others()), bytes.NewReader(data), make([]byte, 1<<20))
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			_, _ = teeParallel(bytes.NewReader(data), 1<<20, 4, sha256.New(), others())
		}
	})
}

// The read's buffers follow the object's size, and a size that turns out
// wrong (or unknown) still reads every byte once.
func TestReadBuffersForAnyClaimedSize(t *testing.T) {
	for _, size := range []int{0, 1, 4095, 4096, 4097, 100_000, readBuffer - 1, readBuffer, readBuffer + 1} {
		data := make([]byte, size)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(data)
		for _, claimed := range []int64{int64(size), int64(size) / 2, int64(size)*2 + 1, -1} {
			bufSize, nbuf := readBuffersFor(claimed)
			if claimed >= 0 && claimed < readBuffer && (bufSize <= int(claimed) || nbuf != 1) {
				t.Errorf("claimed %d bytes: buffers %d × %d, want one buffer larger than the object", claimed, nbuf, bufSize)
			}
			sha := sha256.New()
			n, err := teeParallel(bytes.NewReader(data), bufSize, nbuf, sha, io.Discard)
			if err != nil || n != int64(size) || !bytes.Equal(sha.Sum(nil), want[:]) {
				t.Errorf("%d bytes claimed as %d: read %d, err %v, same bytes %v", size, claimed, n, err, bytes.Equal(sha.Sum(nil), want[:]))
			}
		}
	}
}
