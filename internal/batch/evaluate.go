package batch

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Evaluate fills Missing, Mismatched, Unlisted and Reasons from the
// manifest and the members, and reports whether the batch may be released:
// a valid manifest arrived, every listed file arrived and matches its size
// and checksum and breaks no rule, and no file of the folder is unlisted.
// The reasons name the folder and each file, in the manifest's order,
// then the unlisted files by name.
func (s *State) Evaluate() (complete bool) {
	s.Missing, s.Mismatched, s.Unlisted, s.Reasons = nil, nil, nil, nil
	say := func(format string, a ...any) {
		s.Reasons = append(s.Reasons, fmt.Sprintf("batch %s: ", s.Folder)+fmt.Sprintf(format, a...))
	}
	m := s.Manifest
	switch {
	case m == nil:
		say("no manifest has arrived (a file named like %s in the folder)", strings.Join(s.patterns(), " or "))
	case len(m.Violations) > 0:
		say("the manifest %s breaks the partner's rules: %s", m.Name, strings.Join(m.Violations, "; "))
	case m.ManifestError != "":
		say("%s: upload a corrected manifest under the same name", m.ManifestError)
	}
	var listed []string
	if m != nil && m.Manifest != nil && len(m.Violations) == 0 {
		for _, e := range m.Manifest.Files {
			listed = append(listed, e.Name)
			f, ok := s.member(e.Name)
			switch {
			case !ok:
				s.Missing = append(s.Missing, e.Name)
				say("%s listed in the manifest has not arrived", e.Name)
			case len(f.Violations) > 0:
				s.Mismatched = append(s.Mismatched, e.Name)
				say("%s breaks the partner's rules: %s", e.Name, strings.Join(f.Violations, "; "))
			case e.Size >= 0 && f.Size != e.Size:
				s.Mismatched = append(s.Mismatched, e.Name)
				say("%s: size %d bytes differs from the manifest's %d", e.Name, f.Size, e.Size)
			case f.SHA256 != e.SHA256:
				s.Mismatched = append(s.Mismatched, e.Name)
				say("%s: SHA-256 %s differs from the manifest's %s", e.Name, f.SHA256, e.SHA256)
			}
		}
	}
	for _, f := range s.Members {
		if m != nil && m.Manifest != nil && !slices.Contains(listed, f.Name) {
			s.Unlisted = append(s.Unlisted, f.Name)
			say("%s is not in the manifest", f.Name)
		}
	}
	return len(s.Reasons) == 0
}

func (s *State) patterns() []string {
	if s.settings == nil {
		return []string{"the partner's batch.manifest patterns"}
	}
	return s.settings.ManifestPatterns
}

func (s *State) member(name string) (Member, bool) {
	i := slices.IndexFunc(s.Members, func(m Member) bool { return m.Name == name })
	if i < 0 {
		return Member{}, false
	}
	return s.Members[i], true
}

// Add takes a member's report into the batch's view. A report already
// taken (a duplicate signal) changes nothing; a new version of a name
// replaces the one before, which is returned so that its workflow can be
// told. A second manifest under another name is kept as an unlisted
// claimant of the folder.
func (s *State) Add(m Member) (replaced *Member, changed bool) {
	if s.Manifest != nil && s.Manifest.FileID == m.FileID {
		return nil, false
	}
	if m.IsManifest && (s.Manifest == nil || s.Manifest.Name == m.Name) {
		prev := s.Manifest
		s.Manifest = &m
		if prev != nil {
			s.Superseded = append(s.Superseded, *prev)
		}
		return prev, true
	}
	i := slices.IndexFunc(s.Members, func(x Member) bool { return x.Name == m.Name })
	if i >= 0 {
		if s.Members[i].FileID == m.FileID {
			return nil, false
		}
		prev := s.Members[i]
		s.Members[i] = m
		s.Superseded = append(s.Superseded, prev)
		return &prev, true
	}
	s.Members = append(s.Members, m)
	slices.SortFunc(s.Members, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return nil, true
}

// Digest binds the batch's exact content for signed decisions: SHA-256
// over "name NUL sha256 NUL" of the manifest and every member, by name.
func (s *State) Digest() string {
	h := sha256.New()
	for _, m := range s.All() {
		fmt.Fprintf(h, "%s\x00%s\x00", m.Name, m.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// All are the manifest (when one arrived) and the members: every file
// a verdict goes to.
func (s *State) All() []Member {
	var all []Member
	if s.Manifest != nil {
		all = append(all, *s.Manifest)
	}
	return append(all, s.Members...)
}
