package rules

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func check(r Rules, key string, body []byte, chunk int) []string {
	return Messages(checkReasons(r, key, body, chunk))
}

func checkReasons(r Rules, key string, body []byte, chunk int) []Reason {
	c := r.NewContentCheck(key)
	for len(body) > 0 {
		n := min(chunk, len(body))
		_, _ = c.Write(body[:n])
		body = body[n:]
	}
	return c.Reasons()
}

func TestContentCheck(t *testing.T) {
	on := Rules{CheckContent: true}
	tests := []struct {
		name, key string
		body      []byte
		rules     Rules
		want      string // "" means accepted
		class     string
	}{
		{"csv", "a.csv", []byte("id,name\n1,Zoë\n"), on, "", ""},
		{"csv with BOM", "a.csv", []byte("\xef\xbb\xbfid\n"), on, "", ""},
		{"exe renamed csv", "a.csv", []byte("MZ\x90\x00\x03\x00"), on, "content is a Windows executable (MZ), not a .csv file", ClassSignature},
		{"elf renamed txt", "a.txt", []byte("\x7fELF\x02\x01"), on, "ELF executable", ClassSignature},
		{"zip renamed xml", "a.xml", []byte("PK\x03\x04rest"), on, "ZIP archive, not a .xml file", ClassSignature},
		{"gzip renamed pdf", "a.pdf", []byte("\x1f\x8b\x08\x00"), on, "gzip archive", ClassSignature},
		{"real pdf", "a.pdf", []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), on, "", ""},
		{"fake pdf", "a.pdf", []byte("hello"), on, "must start with %PDF-", ClassSignature},
		{"pdf renamed csv", "a.csv", []byte("%PDF-1.7\n"), on, "PDF document, not a .csv file", ClassSignature},
		{"zip as zip", "a.zip", []byte("PK\x03\x04rest"), on, "", ""},
		{"latin-1 csv", "a.csv", []byte("id,name\n1,Zo\xeb\n"), on, "byte 12 is not valid UTF-8", ClassEncoding},
		{"truncated utf-8 at end", "a.csv", []byte("id,Zo\xc3"), on, "byte 5 is not valid UTF-8", ClassEncoding},
		{"NUL in text", "a.txt", []byte("abc\x00def"), on, "byte 3 is a NUL byte", ClassEncoding},
		{"ascii required", "a.csv", []byte("Zoë"), Rules{CheckContent: true, TextEncoding: "ascii"}, "must be ASCII text, but byte 2", ClassEncoding},
		{"check off", "a.csv", []byte("MZ\x90\x00"), Rules{}, "", ""},
		{"unknown binary ext", "a.bin", []byte{0, 1, 2, 0xff}, on, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Whole, and one byte per write: sequences split across writes
			// must be judged the same.
			for _, chunk := range []int{1 << 20, 1, 2, 3} {
				rs := checkReasons(tt.rules, tt.key, tt.body, chunk)
				got := strings.Join(Messages(rs), "; ")
				if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
					t.Fatalf("chunk %d: reasons %q, want %q", chunk, got, tt.want)
				}
				if tt.class != "" && rs[0].Class != tt.class {
					t.Fatalf("chunk %d: class %q, want %q", chunk, rs[0].Class, tt.class)
				}
				for _, r := range rs {
					if !slices.Contains(ReasonClasses, r.Class) {
						t.Fatalf("class %q is not in ReasonClasses (metrics would count it as other)", r.Class)
					}
				}
			}
		})
	}
}

func TestContentCheckLongValidTextAcrossChunks(t *testing.T) {
	body := bytes.Repeat([]byte("Zoë,Ünïcødé,日本語,😀\n"), 10_000)
	for _, chunk := range []int{1, 7, 4096, 1 << 20} {
		if got := check(Rules{CheckContent: true}, "a.csv", body, chunk); len(got) != 0 {
			t.Fatalf("chunk %d: valid UTF-8 refused: %v", chunk, got)
		}
	}
	// One bad byte deep inside is found at its exact offset.
	bad := append(append([]byte{}, body[:123457]...), 0xff)
	bad = append(bad, body[:100]...)
	for _, chunk := range []int{1, 7, 1 << 20} {
		got := strings.Join(check(Rules{CheckContent: true}, "a.csv", bad, chunk), "")
		if !strings.Contains(got, "byte 123457 ") {
			t.Fatalf("chunk %d: %q", chunk, got)
		}
	}
}

func TestNamePatternAndNormalForm(t *testing.T) {
	r := Rules{NamePattern: `ORD_[0-9]{8}\.csv`}
	if got := r.CheckKey("acme/inbound/ORD_20261124.csv"); len(got) != 0 {
		t.Fatalf("matching name refused: %v", got)
	}
	if got := r.CheckKey("acme/inbound/orders.csv"); len(got) != 1 || !strings.Contains(got[0].Message, `does not match this partner's pattern`) || got[0].Class != ClassNamePattern {
		t.Fatalf("got %+v", got)
	}
	// The pattern applies to the whole name, not a substring.
	if got := r.CheckKey("acme/inbound/xORD_20261124.csv.exe"); len(got) == 0 {
		t.Fatal("pattern matched a substring")
	}
	decomposed := "acme/inbound/Re\u0301sume\u0301.csv" // e + combining accent
	if got := (Rules{}).CheckKey(decomposed); len(got) != 1 || !strings.Contains(got[0].Message, "normal form C") || got[0].Class != ClassName {
		t.Fatalf("NFD key accepted: %+v", got)
	}
	if got := (Rules{}).CheckKey("acme/inbound/Résumé.csv"); len(got) != 0 {
		t.Fatalf("NFC key refused: %v", got)
	}
	if err := (Rules{NamePattern: "("}).Validate(); err == nil {
		t.Fatal("invalid name_pattern accepted")
	}
	if err := (Rules{TextEncoding: "latin-1"}).Validate(); err == nil {
		t.Fatal("unsupported text_encoding accepted")
	}
}

// FuzzContentCheckChunking: however the read pass splits the stream, the
// verdict is the one for the whole file.
func FuzzContentCheckChunking(f *testing.F) {
	f.Add([]byte("id,Zoë\n"), uint8(1))
	f.Add([]byte("Zo\xc3"), uint8(2))
	f.Add([]byte("\xf0\x9f\x98\x80\xf0\x9f"), uint8(3))
	f.Add([]byte("MZ\x90\x00"), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, chunk uint8) {
		r := Rules{CheckContent: true}
		whole := strings.Join(check(r, "a.csv", body, len(body)+1), "; ")
		split := strings.Join(check(r, "a.csv", body, int(chunk%16)+1), "; ")
		if whole != split {
			t.Fatalf("whole %q, split by %d %q", whole, chunk%16+1, split)
		}
	})
}
