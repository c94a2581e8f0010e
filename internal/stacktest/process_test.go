package stacktest

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Every Process a test may stop, pause or look up is a process that
// deploy/local/stack.sh starts under that name: stack.sh pid and stop-one
// know no other.
func TestProcessesAreTheStacksProcesses(t *testing.T) {
	b, err := os.ReadFile("../../deploy/local/stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PROCS=\(([^)]*)\)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("deploy/local/stack.sh has no PROCS=(...) line")
	}
	procs := strings.Fields(string(m[1]))
	for _, p := range []Process{Worker, Bridge, ClamdProcess, TemporalProcess, MinIOProcess, DynamoDBProcess, WebhookSinkProcess} {
		if !slices.Contains(procs, string(p)) {
			t.Errorf("stacktest.Process %q is not one of stack.sh's processes %v", p, procs)
		}
	}
}
