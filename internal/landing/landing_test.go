package landing

import (
	"errors"
	"testing"
)

func TestRoute(t *testing.T) {
	known := func(p string) bool { return p == "acme" || p == "globex" }
	tests := []struct {
		key      string
		wantPath string
		ignored  bool
		expected bool // ignoring it is routine, not a warning
	}{
		{key: "acme/inbound/orders.csv", wantPath: "orders.csv"},
		{key: "acme/inbound/2026/11/orders.csv", wantPath: "2026/11/orders.csv"},
		{key: "globex/inbound/a b+c.txt", wantPath: "a b+c.txt"},
		{key: "acme/inbound/", ignored: true, expected: true},      // folder marker
		{key: "acme/inbound/2026/", ignored: true, expected: true}, // nested folder marker
		{key: "acme/outbound/x.csv", ignored: true},                // not the upload folder
		{key: "acme/x.csv", ignored: true},
		{key: "umbrella/inbound/x.csv", ignored: true}, // unknown partner
		{key: "x.csv", ignored: true},
		{key: "/inbound/x.csv", ignored: true},
		{key: "acme/inbound/orders.csv.filepart", ignored: true, expected: true}, // WinSCP
		{key: "acme/inbound/orders.csv.PART", ignored: true, expected: true},
		{key: "acme/inbound/orders.part.csv", wantPath: "orders.part.csv"},
		{key: "globex/inbound/orders.csv.sha256", ignored: true, expected: true}, // globex sends sidecars
		{key: "acme/inbound/orders.csv.sha256", wantPath: "orders.csv.sha256"},   // acme does not: a file like any other
	}
	r := Router{Partners: known, TemporarySuffixes: []string{".part", ".filepart"}, Sidecars: func(p string) bool { return p == "globex" }}
	for _, tt := range tests {
		up, err := r.Route(tt.key, 10)
		var ign *Ignored
		if tt.ignored {
			if !errors.As(err, &ign) || ign.Reason == "" {
				t.Errorf("Route(%q) = %+v, %v; want ignored with a reason", tt.key, up, err)
			} else if ign.Expected != tt.expected {
				t.Errorf("Route(%q): Expected = %v, want %v", tt.key, ign.Expected, tt.expected)
			}
			continue
		}
		if err != nil || up.Path != tt.wantPath {
			t.Errorf("Route(%q) = %+v, %v; want path %q", tt.key, up, err, tt.wantPath)
		}
	}
}
