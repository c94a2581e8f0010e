package pgp

import (
	"errors"
	"io"
)

// framer passes a binary OpenPGP packet stream on and follows its framing
// (RFC 9580 §4.2: packet headers, fixed and partial body lengths), so
// that when the stream ends it can tell a message cut off inside a packet
// from a complete one. The library cannot say: inside encrypted data it
// reports every parsing failure alike, so as not to be an oracle.
type framer struct {
	r             io.Reader
	hdr           []byte // header octets read so far
	left          int64  // body octets left in the current packet or chunk
	partial       bool   // the current chunk has a partial length: another length follows
	indeterminate bool   // an old-format packet that runs to the end
	ended         bool
	cut           bool // the armor's base64 ended inside a quantum
}

func (f *framer) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	f.follow(p[:n])
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		f.ended = true
	}
	// Under armor, the base64 decoder says this when the text stops
	// inside a 4-character group: cut short, possibly right at a packet
	// boundary, where the framing alone sees nothing missing. (A source
	// that fails so is caught before: see classify.)
	f.cut = f.cut || errors.Is(err, io.ErrUnexpectedEOF)
	return n, err
}

func (f *framer) follow(p []byte) {
	for len(p) > 0 {
		switch {
		case f.indeterminate:
			return
		case f.left > 0:
			k := min(f.left, int64(len(p)))
			f.left -= k
			p = p[k:]
		default:
			f.hdr = append(f.hdr, p[0])
			p = p[1:]
			f.parse()
		}
	}
}

// parse reads a complete header (or partial-length continuation) from
// f.hdr, if there is one.
func (f *framer) parse() {
	h := f.hdr
	if !f.partial { // a packet header: tag octet first
		if h[0]&0x80 == 0 {
			f.indeterminate = true // not OpenPGP framing: nothing to follow
			return
		}
		if h[0]&0x40 == 0 { // old format
			size := [...]int{1, 2, 4, 0}[h[0]&3]
			if size == 0 {
				f.indeterminate, f.hdr = true, f.hdr[:0]
				return
			}
			if len(h) < 1+size {
				return
			}
			var n int64
			for _, b := range h[1 : 1+size] {
				n = n<<8 | int64(b)
			}
			f.left, f.hdr = n, f.hdr[:0]
			return
		}
		h = h[1:]
	}
	// New-format length octets.
	if len(h) == 0 {
		return
	}
	switch l := h[0]; {
	case l < 192:
		f.left, f.partial = int64(l), false
	case l < 224:
		if len(h) < 2 {
			return
		}
		f.left, f.partial = (int64(l)-192)<<8+int64(h[1])+192, false
	case l == 255:
		if len(h) < 5 {
			return
		}
		f.left, f.partial = int64(h[1])<<24|int64(h[2])<<16|int64(h[3])<<8|int64(h[4]), false
	default:
		f.left, f.partial = 1<<(l&0x1f), true
	}
	f.hdr = f.hdr[:0]
}

// truncated reports whether the stream ended inside a packet (or inside
// the armor's base64).
func (f *framer) truncated() bool {
	return f.cut || f.ended && !f.indeterminate && (len(f.hdr) > 0 || f.left > 0 || f.partial)
}
