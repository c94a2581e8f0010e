package landing

import (
	"errors"
	"strings"
	"testing"
)

// FuzzRoute: every key is either routed to a configured partner's inbound
// folder — and then the key is exactly <partner>/inbound/<path> — or
// ignored with a reason; nothing panics and nothing else gets through.
func FuzzRoute(f *testing.F) {
	for _, k := range []string{"acme/inbound/orders.csv", "acme/inbound/", "globex/inbound/a/b.csv.sha256", "acme/outbound/x", "../acme/inbound/x", "acme/inbound/x.filepart", "/", ""} {
		f.Add(k, int64(10))
	}
	r := Router{
		Partners:          func(p string) bool { return p == "acme" || p == "globex" },
		TemporarySuffixes: []string{".part", ".filepart"},
		Sidecars:          func(p string) bool { return p == "globex" },
	}
	f.Fuzz(func(t *testing.T, key string, size int64) {
		up, err := r.Route(key, size)
		var ign *Ignored
		if err != nil {
			if !errors.As(err, &ign) || ign.Reason == "" {
				t.Fatalf("Route(%q) failed without an Ignored reason: %v", key, err)
			}
			return
		}
		if up.Partner != "acme" && up.Partner != "globex" {
			t.Fatalf("Route(%q) routed to unknown partner %q", key, up.Partner)
		}
		if up.Path == "" || key != up.Partner+"/"+InboundDir+"/"+up.Path || strings.HasSuffix(key, "/") {
			t.Fatalf("Route(%q) = %+v: not <partner>/inbound/<path>", key, up)
		}
	})
}
