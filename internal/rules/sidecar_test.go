package rules

import (
	"strings"
	"testing"
)

func TestParseSidecar(t *testing.T) {
	const h = "CD74993F7257B5AF3649F8440ED272AE2EE39109CB23889E629B5FBDEBA28FEA"
	lower := strings.ToLower(h)
	tests := []struct {
		name, body, want, err string
	}{
		{"sha256sum text mode", lower + "  orders.csv\n", lower, ""},
		{"binary mode", lower + " *orders.csv\n", lower, ""},
		{"upper case", h + "  orders.csv", lower, ""},
		{"hash only", lower + "\n", lower, ""},
		{"path in name", lower + "  ./out/orders.csv\n", lower, ""},
		{"comment first", "# made by the partner\n" + lower + "  orders.csv\n", lower, ""},
		{"windows line end", lower + "  orders.csv\r\n", lower, ""},
		{"other file", lower + "  invoice.csv\n", "", `names "invoice.csv", not "orders.csv"`},
		{"short hash", "abc  orders.csv\n", "", "64-digit SHA-256"},
		{"not hex", strings.Repeat("z", 64) + "  orders.csv", "", "not hexadecimal"},
		{"empty", "\n\n", "", "sidecar is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSidecar([]byte(tt.body), "orders.csv")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v", got, err)
			}
		})
	}
}
