package clamd

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
)

// Result is clamd's verdict on a stream.
type Result struct {
	Clean bool
	// Signature is what clamd found when !Clean, e.g. "Eicar-Signature", or
	// "Eicar-Test-Signature.UNOFFICIAL" from a local, unsigned database.
	Signature string
	// LimitsExceeded: what clamd found is a Heuristics.Limits.Exceeded.*
	// alert (clamd.conf's AlertExceedsMax): a limit (size, archive depth,
	// file count, time) cut the scan short, so the stream was not scanned
	// whole. Clean is false.
	LimitsExceeded bool
	Raw            string // the reply, "stream: OK"
}

// limitsPrefix starts the names of clamd's alerts for scans a limit cut short.
const limitsPrefix = "Heuristics.Limits.Exceeded"

// Stream is one INSTREAM scan: Write the bytes, then Close for the
// verdict. A Stream belongs to one goroutine; Abort may be called from any.
type Stream struct {
	cn     *conn
	sent   int64
	hdr    [4]byte
	closed bool
	result Result
	err    error // the first failure: every later call returns it
}

// Scan opens an INSTREAM session. The context bounds the whole scan: when
// it ends, a blocked Write or Close returns at once with its error.
func (c *Client) Scan(ctx context.Context) (*Stream, error) {
	cn, err := c.dial(ctx, "INSTREAM")
	if err != nil {
		return nil, err
	}
	if err := cn.write("INSTREAM", []byte("zINSTREAM\x00")); err != nil {
		cn.close()
		return nil, err
	}
	return &Stream{cn: cn}, nil
}

// Write sends p to clamd in chunks of at most ChunkSize bytes; any size is
// accepted, and nothing is kept once sent. An empty p sends nothing (an
// empty chunk would end the stream). After a failure the Stream is done:
// Write and Close return the same error.
func (s *Stream) Write(p []byte) (int, error) {
	switch {
	case s.err != nil:
		return 0, s.err
	case s.closed:
		return 0, fmt.Errorf("clamd %s: INSTREAM: Write after Close", s.cn.c.address)
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), ChunkSize)
		binary.BigEndian.PutUint32(s.hdr[:], uint32(k))
		if err := s.cn.send(s.hdr[:], p[:k]); err != nil {
			s.err = s.writeFailed(err)
			s.cn.close()
			return n, s.err
		}
		n += k
		s.sent += int64(k)
		p = p[k:]
	}
	return n, nil
}

// Close ends the stream and returns clamd's verdict. Only a reply of
// clamd's that says what it found or that nothing was found is a Result;
// anything else is an error. Closing again returns the same.
func (s *Stream) Close() (Result, error) {
	if s.closed || s.err != nil {
		s.cn.close()
		return s.result, s.err
	}
	s.closed = true
	defer s.cn.close()
	if err := s.cn.send([]byte{0, 0, 0, 0}); err != nil {
		s.err = s.writeFailed(err)
		return Result{}, s.err
	}
	reply, err := s.cn.readReply("INSTREAM")
	if err != nil {
		s.err = err
		return Result{}, err
	}
	s.result, s.err = s.verdict(reply)
	return s.result, s.err
}

// Abort ends the scan without a verdict, closing the connection: a Write
// or Close blocked in another goroutine returns an error. It may be called
// more than once, and after Close.
func (s *Stream) Abort() {
	s.cn.close()
}

// writeFailed turns a failed send into the error to return. clamd closes
// the connection when a stream passes its StreamMaxLength, after replying
// why, so the write meets a broken pipe or a reset: the reply, if it came,
// says more than the write's error.
func (s *Stream) writeFailed(err error) error {
	failed := s.cn.fail("INSTREAM", fmt.Sprintf("sending (after %d bytes)", s.sent), err)
	if s.cn.interrupted(err) {
		return failed
	}
	reply, rerr := s.cn.readReply("INSTREAM")
	if rerr != nil {
		return failed
	}
	if _, verr := s.verdict(reply); verr != nil {
		return verr
	}
	return fmt.Errorf("%w; clamd replied %q before the stream ended", failed, reply)
}

// verdict reads an INSTREAM reply.
func (s *Stream) verdict(reply string) (Result, error) {
	r, err := parseScanReply(reply)
	if err != nil {
		return Result{}, fmt.Errorf("clamd %s: INSTREAM (after %d bytes): %w", s.cn.c.address, s.sent, err)
	}
	return r, nil
}

// parseScanReply reads "stream: OK", "stream: <signature> FOUND" and the
// errors; anything else is an error, never a clean Result.
func parseScanReply(reply string) (Result, error) {
	if strings.HasPrefix(reply, "INSTREAM size limit exceeded") {
		return Result{}, ErrStreamTooLarge
	}
	if rest, ok := strings.CutPrefix(reply, "stream: "); ok {
		if rest == "OK" {
			return Result{Clean: true, Raw: reply}, nil
		}
		if sig, ok := strings.CutSuffix(rest, " FOUND"); ok && strings.TrimSpace(sig) != "" {
			return Result{Signature: sig, LimitsExceeded: strings.HasPrefix(sig, limitsPrefix), Raw: reply}, nil
		}
	}
	if strings.HasSuffix(reply, "ERROR") {
		return Result{}, fmt.Errorf("clamd could not scan the stream: %q", reply)
	}
	return Result{}, fmt.Errorf("unexpected reply %q (want \"stream: OK\" or \"stream: <signature> FOUND\")", reply)
}
