package logging

import (
	"slices"
	"testing"
)

func TestFileLeavesOutWhatIsNotKnown(t *testing.T) {
	got := File("ingest-acme-0123", "acme", "", "", "")
	if want := []any{"file_id", "ingest-acme-0123", "partner", "acme"}; !slices.Equal(got, want) {
		t.Errorf("File = %v, want %v", got, want)
	}
	if got := File("f", "p", "b", "k", "v"); len(got) != 10 || got[8] != "version_id" || got[9] != "v" {
		t.Errorf("File with every part = %v", got)
	}
}
