// Package rules holds a partner's acceptance rules and the pure checks
// behind them. The rules travel in the workflow input, so the history of
// every file records the rules it was judged by.
package rules

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxKeyBytes is S3's limit on object key length.
const MaxKeyBytes = 1024

// Rules are one partner's acceptance rules.
type Rules struct {
	// AllowedExtensions lists accepted file extensions, lower case with the
	// leading dot (".csv"). Empty means any extension.
	AllowedExtensions []string `mapstructure:"allowed_extensions" json:"allowedExtensions,omitempty"`
	// MinSizeBytes is the smallest accepted file; zero-byte files are
	// always refused.
	MinSizeBytes int64 `mapstructure:"min_size_bytes" json:"minSizeBytes,omitempty"`
	// MaxSizeBytes is the largest accepted file; 0 means no limit.
	MaxSizeBytes int64 `mapstructure:"max_size_bytes" json:"maxSizeBytes,omitempty"`
	// NamePattern is a regular expression the file's name (the last path
	// segment) must match in full; empty means any name.
	NamePattern string `mapstructure:"name_pattern" json:"namePattern,omitempty"`
	// CheckContent makes inspection check that the content agrees with the
	// extension (no executable or archive under a .csv name; text files in
	// TextEncoding).
	CheckContent bool `mapstructure:"check_content" json:"checkContent,omitempty"`
	// TextEncoding is the encoding text files must be in: "utf-8" (the
	// default) or "ascii".
	TextEncoding string `mapstructure:"text_encoding" json:"textEncoding,omitempty"`
	// Sidecar asks for a partner-supplied checksum file per upload.
	Sidecar Sidecar `mapstructure:"sidecar" json:"sidecar,omitempty"`
	// Scan feeds every file to the malware scanner (the config's
	// scanner) during the inspection's one read; a finding quarantines it.
	Scan bool `mapstructure:"scan" json:"scan,omitempty"`
	// ScanTooLarge says what happens to a file larger than the scanner
	// accepts (scanner.max_stream_bytes): ScanTooLargeQuarantine (the
	// default) or ScanTooLargeDeliver, which delivers it unscanned and
	// records that it was not scanned.
	ScanTooLarge string `mapstructure:"scan_too_large" json:"scanTooLarge,omitempty"`
}

// What a file too large to scan gets (Rules.ScanTooLarge).
const (
	ScanTooLargeQuarantine = "quarantine"
	ScanTooLargeDeliver    = "deliver_unscanned"
)

// CheckKey returns every reason the key itself is unacceptable: hostile or
// malformed names are caught before a single byte is read.
func (r Rules) CheckKey(key string) []Reason {
	var reasons []Reason
	add := func(class, format string, args ...any) {
		reasons = append(reasons, Reason{Class: class, Message: fmt.Sprintf(format, args...)})
	}
	if len(key) > MaxKeyBytes {
		add(ClassName, "key is %d bytes, over S3's limit of %d: use a shorter file name", len(key), MaxKeyBytes)
	}
	if !utf8.ValidString(key) {
		add(ClassName, "key is not valid UTF-8: rename the file using UTF-8 characters only")
	}
	for _, c := range key {
		if unicode.IsControl(c) {
			add(ClassName, "key contains control character %U: rename the file without control characters", c)
			break
		}
	}
	if utf8.ValidString(key) && !norm.NFC.IsNormalString(key) {
		// The same visible name in two normal forms would be two different
		// files; refusing the rarer form keeps one name per file.
		add(ClassName, "key is not in Unicode normal form C: rename the file (most systems save names in NFC)")
	}
	if r.NamePattern != "" {
		if re, err := regexp.Compile("^(?:" + r.NamePattern + ")$"); err == nil && !re.MatchString(path.Base(key)) {
			add(ClassNamePattern, "file name %q does not match this partner's pattern %s", path.Base(key), r.NamePattern)
		}
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == ".." || seg == "." {
			add(ClassName, "key contains a %q path segment: upload with a plain path", seg)
			break
		}
	}
	if len(r.AllowedExtensions) > 0 {
		ext := strings.ToLower(path.Ext(key))
		if !slices.Contains(r.AllowedExtensions, ext) {
			shown := ext
			if shown == "" {
				shown = "(none)"
			}
			add(ClassExtension, "extension %s is not allowed for this partner: allowed are %s", shown, strings.Join(r.AllowedExtensions, ", "))
		}
	}
	return reasons
}

// CheckSize returns the reasons a file of size bytes is unacceptable.
func (r Rules) CheckSize(size int64) []Reason {
	switch {
	case size == 0:
		return []Reason{{Class: ClassEmpty, Message: "file is empty (0 bytes): upload the complete file again"}}
	case size < r.MinSizeBytes:
		return []Reason{{Class: ClassSize, Message: fmt.Sprintf("file is %d bytes, under this partner's minimum of %d bytes", size, r.MinSizeBytes)}}
	case r.MaxSizeBytes > 0 && size > r.MaxSizeBytes:
		return []Reason{{Class: ClassSize, Message: fmt.Sprintf("file is %d bytes, over this partner's maximum of %d bytes: split it or ask the operators to raise the limit", size, r.MaxSizeBytes)}}
	}
	return nil
}

// Validate reports the first problem with the rules themselves, for config loading.
func (r Rules) Validate() error {
	for _, e := range r.AllowedExtensions {
		if !strings.HasPrefix(e, ".") || e != strings.ToLower(e) || len(e) < 2 || strings.ContainsAny(e, "/ ") {
			return fmt.Errorf("allowed_extensions: %q must be lower case with a leading dot, like \".csv\"", e)
		}
	}
	if r.NamePattern != "" {
		if _, err := regexp.Compile("^(?:" + r.NamePattern + ")$"); err != nil {
			return fmt.Errorf("name_pattern: %w", err)
		}
	}
	if r.Sidecar.Required && r.Sidecar.Timeout <= 0 {
		return fmt.Errorf("sidecar.timeout must be a positive duration like 10m when sidecar.required is set")
	}
	switch r.TextEncoding {
	case "", "utf-8", "ascii":
	default:
		return fmt.Errorf("text_encoding: %q is not supported: use utf-8 or ascii", r.TextEncoding)
	}
	switch r.ScanTooLarge {
	case "", ScanTooLargeQuarantine, ScanTooLargeDeliver:
	default:
		return fmt.Errorf("scan_too_large: %q is not one of %s (the default) or %s", r.ScanTooLarge, ScanTooLargeQuarantine, ScanTooLargeDeliver)
	}
	if r.ScanTooLarge != "" && !r.Scan {
		return fmt.Errorf("scan_too_large is set but scan is off: set scan: true, or remove scan_too_large")
	}
	if r.MinSizeBytes < 0 || r.MaxSizeBytes < 0 {
		return fmt.Errorf("min_size_bytes and max_size_bytes must not be negative")
	}
	if r.MaxSizeBytes > 0 && r.MinSizeBytes > r.MaxSizeBytes {
		return fmt.Errorf("min_size_bytes (%d) is larger than max_size_bytes (%d)", r.MinSizeBytes, r.MaxSizeBytes)
	}
	return nil
}
