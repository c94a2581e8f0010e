package rules

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	r := Rules{AllowedExtensions: []string{".csv", ".txt"}}
	tests := []struct {
		name, key string
		wantIn    string // substring of a reason; "" means acceptable
		class     string
	}{
		{"plain", "acme/inbound/orders.csv", "", ""},
		{"upper-case extension", "acme/inbound/ORDERS.CSV", "", ""},
		{"nested", "acme/inbound/2026/11/orders.txt", "", ""},
		{"wrong extension", "acme/inbound/payload.exe", "extension .exe is not allowed", ClassExtension},
		{"no extension", "acme/inbound/README", "extension (none)", ClassExtension},
		{"dot-dot", "acme/inbound/../globex/inbound/x.csv", `".." path segment`, ClassName},
		{"control char", "acme/inbound/a\x07b.csv", "control character U+0007", ClassName},
		{"newline", "acme/inbound/a\nb.csv", "control character U+000A", ClassName},
		{"invalid utf8", "acme/inbound/\xff\xfe.csv", "not valid UTF-8", ClassName},
		{"too long", "acme/inbound/" + strings.Repeat("a", 1020) + ".csv", "over S3's limit of 1024", ClassName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := r.CheckKey(tt.key)
			got := strings.Join(Messages(rs), "; ")
			if tt.wantIn == "" && got != "" {
				t.Fatalf("CheckKey(%q) refused: %s", tt.key, got)
			}
			if !strings.Contains(got, tt.wantIn) {
				t.Fatalf("CheckKey(%q) = %q, want a reason containing %q", tt.key, got, tt.wantIn)
			}
			if tt.class != "" && rs[0].Class != tt.class {
				t.Fatalf("CheckKey(%q): class %q, want %q", tt.key, rs[0].Class, tt.class)
			}
			for _, r := range rs {
				if !slices.Contains(ReasonClasses, r.Class) {
					t.Fatalf("CheckKey(%q): class %q is not in ReasonClasses (metrics would count it as other)", tt.key, r.Class)
				}
			}
		})
	}
	if got := (Rules{}).CheckKey("acme/inbound/anything.bin"); len(got) != 0 {
		t.Fatalf("no extension list should allow any extension, got %v", got)
	}
}

func TestCheckSize(t *testing.T) {
	r := Rules{MinSizeBytes: 10, MaxSizeBytes: 100}
	for _, tt := range []struct {
		size          int64
		wantIn, class string
	}{
		{0, "empty", ClassEmpty}, {5, "under this partner's minimum", ClassSize}, {10, "", ""}, {100, "", ""}, {101, "over this partner's maximum", ClassSize},
	} {
		rs := r.CheckSize(tt.size)
		got := strings.Join(Messages(rs), "; ")
		if (tt.wantIn == "") != (got == "") || !strings.Contains(got, tt.wantIn) {
			t.Errorf("CheckSize(%d) = %q, want %q", tt.size, got, tt.wantIn)
		}
		if tt.class != "" && rs[0].Class != tt.class {
			t.Errorf("CheckSize(%d): class %q, want %q", tt.size, rs[0].Class, tt.class)
		}
	}
	if got := (Rules{}).CheckSize(0); len(got) == 0 {
		t.Error("a zero-byte file must be refused even with no size rules")
	}
}

func TestValidate(t *testing.T) {
	bad := []Rules{
		{AllowedExtensions: []string{"csv"}},
		{AllowedExtensions: []string{".CSV"}},
		{MinSizeBytes: 10, MaxSizeBytes: 5},
		{MaxSizeBytes: -1},
	}
	for _, r := range bad {
		if err := r.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted bad rules", r)
		}
	}
	if err := (Rules{AllowedExtensions: []string{".csv"}, MaxSizeBytes: 10}).Validate(); err != nil {
		t.Errorf("Validate rejected good rules: %v", err)
	}
}
