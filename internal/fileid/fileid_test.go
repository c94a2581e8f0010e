package fileid

import (
	"regexp"
	"testing"
)

func TestWorkflowIDIsDeterministicAndDistinct(t *testing.T) {
	a := WorkflowID("acme", "landing", "acme/inbound/a.csv", "v1")
	if a != WorkflowID("acme", "landing", "acme/inbound/a.csv", "v1") {
		t.Fatal("same object version gave two workflow IDs")
	}
	if !regexp.MustCompile(`^ingest-acme-[0-9a-f]{32}$`).MatchString(a) {
		t.Fatalf("workflow ID %q does not have the documented shape", a)
	}
	others := []string{
		WorkflowID("acme", "landing", "acme/inbound/a.csv", "v2"), // new version = new file
		WorkflowID("acme", "landing", "acme/inbound/b.csv", "v1"),
		WorkflowID("acme", "other", "acme/inbound/a.csv", "v1"),
		// The NUL separators keep these two apart.
		WorkflowID("acme", "landing", "acme/inbound/a.csv\x00v", "1"),
	}
	for _, o := range others {
		if o == a {
			t.Fatalf("different object versions share workflow ID %s", a)
		}
	}
}

func TestVersionOrETag(t *testing.T) {
	if got := VersionOrETag("3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY", `"abc"`); got != "3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY" {
		t.Fatalf("versioned: got %q", got)
	}
	for _, v := range []string{"", "null"} {
		if got := VersionOrETag(v, `"d41d8cd98f00b204e9800998ecf8427e-1"`); got != "etag:d41d8cd98f00b204e9800998ecf8427e-1" {
			t.Fatalf("unversioned (%q): got %q", v, got)
		}
	}
}

func TestPartnerReadsItBackFromTheWorkflowID(t *testing.T) {
	for _, p := range []string{"acme", "acme-eu", "a-b-c-d"} {
		if got := Partner(WorkflowID(p, "landing", p+"/inbound/x.csv", "v1")); got != p {
			t.Errorf("Partner(WorkflowID(%q, ...)) = %q", p, got)
		}
	}
	for _, id := range []string{"", "ingest-", "ingest-acme", "ingest--0123456789abcdef0123456789abcdef",
		"ingest-acme-0123", "ingest-acme-0123456789abcdef0123456789abcdeg", "reconcile-acme-0123456789abcdef0123456789abcdef"} {
		if got := Partner(id); got != "" {
			t.Errorf("Partner(%q) = %q, want \"\" (not an ID WorkflowID makes)", id, got)
		}
	}
}
