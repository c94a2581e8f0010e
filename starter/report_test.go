package starter

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input to ferry report is refused before anything is read, saying
// what to give instead.
func TestReportRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	// The local config names the webhook secret's variable; any value does.
	t.Setenv("FERRY_WEBHOOK_SECRET", "test")
	blocked := filepath.Join(dir, "a-file")
	if err := os.WriteFile(blocked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := []string{"--config", "../deploy/local/ferry.yaml"}
	range_ := func(from, to string, more ...string) []string {
		return append([]string{"--partner", "acme", "--from", from, "--to", to, "--out", dir}, more...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"nothing", []string{"--out", dir}, "give exactly one of --file-id ID or --partner NAME --from TIME --to TIME"},
		{"both", []string{"--file-id", "x", "--partner", "acme", "--out", dir}, "give exactly one of"},
		{"no out", []string{"--file-id", "x"}, "--out DIR is required"},
		{"range without to", []string{"--partner", "acme", "--from", "2026-11-01", "--out", dir}, "--partner needs --from and --to"},
		{"from after to", range_("2026-12-01", "2026-11-01"), "--from 2026-12-01T00:00:00Z is not before --to 2026-11-01T00:00:00Z: give the earlier time as --from"},
		{"unparseable from", range_("last tuesday", "2026-11-01"), `--from "last tuesday" is not a time: give RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)`},
		{"unparseable to", range_("2026-11-01", "2026-13-45"), `--to "2026-13-45" is not a time`},
		{"range with file id", []string{"--file-id", "x", "--from", "2026-11-01", "--out", dir}, "--from and --to go with --partner"},
		{"unknown partner", append([]string{"--partner", "umbrella", "--from", "2026-11-01", "--to", "2026-12-01", "--out", dir}, cfg...), `unknown partner "umbrella": the config lists`},
		// A path below a file cannot be a directory, for root too.
		{"out below a file", []string{"--file-id", "x", "--out", filepath.Join(blocked, "reports")}, "--out " + filepath.Join(blocked, "reports") + " cannot be created"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runReport(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ferry report %v: %v, want an error with %q", tt.args, err, tt.want)
			}
		})
	}
}
