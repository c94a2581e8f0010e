package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/ferrydata/ferry/internal/rules"
)

// MaxManifestBytes bounds what is read of a manifest: about 10,000 files
// in either format.
const MaxManifestBytes = 1 << 20

// Manifest lists the files of a batch.
type Manifest struct {
	Files []Entry `json:"files"`
}

// Entry is one listed file. Size is -1 where the manifest gives none (a
// sha256sum file never does).
type Entry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// jsonEntry tells a missing size from a size of 0.
type jsonEntry struct {
	Name   string `json:"name"`
	Size   *int64 `json:"size"`
	SHA256 string `json:"sha256"`
}

// ParseManifest reads a manifest named name: JSON when the name ends in
// .json, else sha256sum output. Errors say what is wrong and how the
// partner writes a good one.
//
// JSON:      {"files": [{"name": "labs_1.csv", "size": 1234, "sha256": "<64 hex>"}]}
// sha256sum: one "<64 hex>  labs_1.csv" line per file (sha256sum *.csv > batch.sha256)
//
// Names are plain names in the manifest's folder; a path ("./labs_1.csv",
// "b1/labs_1.csv", as sha256sum writes when run elsewhere) is reduced to
// its last element.
func ParseManifest(name string, body []byte) (*Manifest, error) {
	var m *Manifest
	var err error
	if strings.HasSuffix(strings.ToLower(name), ".json") {
		m, err = parseJSON(body)
	} else {
		m, err = parseSHA256Sum(body)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	if err := m.check(name); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	return m, nil
}

func parseJSON(body []byte) (*Manifest, error) {
	var doc struct {
		Files []jsonEntry `json:"files"`
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(body, []byte("\ufeff"))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf(`is not valid JSON of the form {"files": [{"name": "...", "size": 123, "sha256": "<64 hex>"}]}: %w`, err)
	}
	if dec.More() {
		return nil, errors.New("holds more than one JSON document: write one object with a files list")
	}
	m := &Manifest{}
	for i, e := range doc.Files {
		size := int64(-1)
		if e.Size != nil {
			if *e.Size < 0 {
				return nil, fmt.Errorf("files[%d] (%q): size %d is negative", i, e.Name, *e.Size)
			}
			size = *e.Size
		}
		sum, _, err := rules.ParseSHA256SumLine(e.SHA256)
		if err != nil || strings.TrimSpace(e.SHA256) != e.SHA256 || strings.Contains(e.SHA256, " ") {
			return nil, fmt.Errorf("files[%d] (%q): sha256 %q is not 64 hexadecimal digits", i, e.Name, e.SHA256)
		}
		m.Files = append(m.Files, Entry{Name: e.Name, Size: size, SHA256: sum})
	}
	return m, nil
}

func parseSHA256Sum(body []byte) (*Manifest, error) {
	m := &Manifest{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), MaxManifestBytes)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, name, err := rules.ParseSHA256SumLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w: write the manifest with `sha256sum FILES > MANIFEST`", n, err)
		}
		if name == "" {
			return nil, fmt.Errorf("line %d: the hash names no file: write the manifest with `sha256sum FILES > MANIFEST`", n)
		}
		m.Files = append(m.Files, Entry{Name: name, Size: -1, SHA256: sum})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading it: %w", err)
	}
	return m, nil
}

// check normalizes the names and refuses what cannot be a batch.
func (m *Manifest) check(self string) error {
	if len(m.Files) == 0 {
		return errors.New("lists no files: a batch needs at least one")
	}
	seen := make(map[string]int, len(m.Files))
	for i := range m.Files {
		e := &m.Files[i]
		raw := e.Name
		e.Name = path.Base(strings.TrimSpace(raw))
		switch {
		case strings.TrimSpace(raw) == "" || e.Name == "." || e.Name == "/" || e.Name == "..":
			return fmt.Errorf("entry %d has no file name", i+1)
		case e.Name == self:
			return fmt.Errorf("lists itself (%s): a manifest vouches for the other files of its folder", self)
		}
		if j, dup := seen[e.Name]; dup {
			return fmt.Errorf("lists %s twice (entries %d and %d): each file of the folder once", e.Name, j+1, i+1)
		}
		seen[e.Name] = i
	}
	return nil
}
