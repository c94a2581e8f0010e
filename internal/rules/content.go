package rules

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"
)

// signature is a file format recognised by its first bytes.
type signature struct {
	name   string
	magic  []byte
	offset int
	// kind groups formats: "executable" and "archive" are never accepted
	// under another format's extension.
	kind string
	exts []string // extensions this format legitimately has
}

var signatures = []signature{
	{name: "Windows executable (MZ)", magic: []byte("MZ"), kind: "executable", exts: []string{".exe", ".dll"}},
	{name: "ELF executable", magic: []byte("\x7fELF"), kind: "executable"},
	{name: "Mach-O executable", magic: []byte("\xcf\xfa\xed\xfe"), kind: "executable"},
	{name: "Mach-O executable", magic: []byte("\xfe\xed\xfa\xce"), kind: "executable"},
	{name: "Java class file", magic: []byte("\xca\xfe\xba\xbe"), kind: "executable"},
	{name: "ZIP archive", magic: []byte("PK\x03\x04"), kind: "archive", exts: []string{".zip", ".docx", ".xlsx", ".pptx", ".jar"}},
	{name: "gzip archive", magic: []byte("\x1f\x8b"), kind: "archive", exts: []string{".gz", ".tgz"}},
	{name: "7-Zip archive", magic: []byte("7z\xbc\xaf\x27\x1c"), kind: "archive", exts: []string{".7z"}},
	{name: "RAR archive", magic: []byte("Rar!\x1a\x07"), kind: "archive", exts: []string{".rar"}},
	{name: "bzip2 archive", magic: []byte("BZh"), kind: "archive", exts: []string{".bz2"}},
	{name: "PDF document", magic: []byte("%PDF-"), kind: "document", exts: []string{".pdf"}},
}

// textExtensions must hold text in the partner's declared encoding.
var textExtensions = map[string]bool{".csv": true, ".txt": true, ".xml": true, ".json": true, ".tsv": true, ".edi": true, ".hl7": true}

// headBytes is how much of the start of a file the check keeps.
const headBytes = 512

// ContentCheck is an io.Writer fed with the file's bytes during the one
// read pass: it keeps the first bytes for the signature check and
// validates text encoding as the bytes stream by, in constant memory.
type ContentCheck struct {
	ext      string
	enabled  bool
	text     bool
	head     []byte
	carry    []byte // an incomplete UTF-8 sequence at the end of the last write
	n        int64
	badUTF8  int64 // offset of the first invalid UTF-8 byte, or -1
	nulByte  int64 // offset of the first NUL byte in text, or -1
	encoding string
}

// NewContentCheck returns the content check for key under these rules; a
// disabled one only counts and keeps the head for content-type sniffing.
func (r Rules) NewContentCheck(key string) *ContentCheck {
	ext := strings.ToLower(path.Ext(key))
	enc := r.TextEncoding
	if enc == "" {
		enc = "utf-8"
	}
	return &ContentCheck{
		ext: ext, enabled: r.CheckContent, text: r.CheckContent && textExtensions[ext],
		badUTF8: -1, nulByte: -1, encoding: enc,
	}
}

// Head returns the first bytes seen (up to 512), for content-type sniffing.
func (c *ContentCheck) Head() []byte { return c.head }

// Write implements io.Writer; it never fails, so it can sit in a MultiWriter.
func (c *ContentCheck) Write(p []byte) (int, error) {
	if room := headBytes - len(c.head); room > 0 {
		c.head = append(c.head, p[:min(room, len(p))]...)
	}
	if c.text {
		// The NUL scan goes on after an encoding error so the verdict does
		// not depend on where the read pass splits the stream.
		if c.nulByte < 0 {
			if i := bytes.IndexByte(p, 0); i >= 0 {
				c.nulByte = c.n + int64(i)
			}
		}
		if c.badUTF8 < 0 {
			c.scanEncoding(p)
		}
	}
	c.n += int64(len(p))
	return len(p), nil
}

func (c *ContentCheck) scanEncoding(p []byte) {
	if c.encoding == "ascii" {
		for i, b := range p {
			if b >= 0x80 {
				c.badUTF8 = c.n + int64(i)
				return
			}
		}
		return
	}
	// Complete the sequence split across the previous write first.
	start := c.n - int64(len(c.carry))
	buf := p
	if len(c.carry) > 0 {
		buf = append(append([]byte{}, c.carry...), p...)
		c.carry = c.carry[:0]
	}
	// Hold back a trailing incomplete sequence for the next write.
	cut := len(buf)
	for i := 1; i <= utf8.UTFMax-1 && i <= len(buf); i++ {
		b := buf[len(buf)-i]
		if b < 0x80 {
			break
		}
		if utf8.RuneStart(b) {
			if !utf8.FullRune(buf[len(buf)-i:]) {
				cut = len(buf) - i
			}
			break
		}
	}
	if !utf8.Valid(buf[:cut]) {
		for i := 0; i < cut; {
			r, size := utf8.DecodeRune(buf[i:cut])
			if r == utf8.RuneError && size <= 1 {
				c.badUTF8 = start + int64(i)
				return
			}
			i += size
		}
	}
	c.carry = append(c.carry, buf[cut:]...)
}

// Reasons returns why the content disagrees with the extension, if it does.
// Call it after the last Write.
func (c *ContentCheck) Reasons() []Reason {
	if !c.enabled {
		return nil
	}
	var reasons []Reason
	add := func(class, format string, args ...any) {
		reasons = append(reasons, Reason{Class: class, Message: fmt.Sprintf(format, args...)})
	}
	if sig, ok := detect(c.head); ok && !slices.Contains(sig.exts, c.ext) && (sig.kind != "document" || c.ext != "") {
		add(ClassSignature, "content is a %s, not a %s file: the partner must send the file the name promises", sig.name, c.ext)
		return reasons // the text checks below would only repeat it
	}
	if c.ext == ".pdf" && !bytes.HasPrefix(c.head, []byte("%PDF-")) {
		add(ClassSignature, "a .pdf file must start with %%PDF-: this is not a PDF document")
	}
	if c.text {
		if c.badUTF8 < 0 && len(c.carry) > 0 {
			c.badUTF8 = c.n - int64(len(c.carry)) // truncated sequence at the end
		}
		if c.badUTF8 >= 0 {
			enc := strings.ToUpper(c.encoding)
			add(ClassEncoding, "%s must be %s text, but byte %d is not valid %s: save the file as %s", c.ext, enc, c.badUTF8, enc, enc)
		}
		if c.nulByte >= 0 {
			add(ClassEncoding, "%s must be text, but byte %d is a NUL byte: this looks like a binary file", c.ext, c.nulByte)
		}
	}
	return reasons
}

func detect(head []byte) (signature, bool) {
	for _, s := range signatures {
		if len(head) >= s.offset+len(s.magic) && bytes.Equal(head[s.offset:s.offset+len(s.magic)], s.magic) {
			return s, true
		}
	}
	return signature{}, false
}
