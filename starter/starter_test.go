package starter

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
)

func TestRunSaysHowToUseIt(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{nil, 2, "", "usage: ferry <command>"},
		{[]string{"help"}, 0, "usage: ferry <command>", ""},
		{[]string{"aprove"}, 2, "", `ferry: unknown command "aprove"`},
		{[]string{"approve", "--approver", "alice"}, 1, "", "ferry approve: "},
	} {
		var out, errOut bytes.Buffer
		code := Run(tt.args, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.err) {
			t.Errorf("ferry %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out.String(), errOut.String(), tt.code, tt.out, tt.err)
		}
	}
}

func TestConfigFromTerraformRendersFromStandardInput(t *testing.T) {
	out, err := os.ReadFile("../internal/configrender/testdata/terraform-output.json")
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := runConfig([]string{"from-terraform", "--base", "../deploy/terraform/examples/complete/partners.yaml"}, bytes.NewReader(out), &stdout); err == nil ||
		!strings.Contains(err.Error(), "partners.yaml: base config: partners initech are not in Terraform's partners") {
		t.Errorf("a base with a partner the outputs lack: %v", err)
	}
	if err := runConfig([]string{"from-terraform"}, bytes.NewReader(out), &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "bucket: ferry-landing-123456789012-eu-west-1") {
		t.Errorf("rendered config:\n%s", stdout.String())
	}
	for _, args := range [][]string{nil, {"to-terraform"}, {"from-terraform", "extra"}, {"from-terraform", "--bsae", "x"}} {
		if err := runConfig(args, strings.NewReader("{}"), io.Discard); err == nil || !strings.Contains(err.Error(), "usage: terraform output -json | ferry config from-terraform") {
			t.Errorf("ferry config %v: %v, want the usage", args, err)
		}
	}
}

func TestBatchFolderHoweverTheOperatorNamesIt(t *testing.T) {
	for _, f := range []string{"b1", "b1/", "inbound/b1/", "labco/inbound/b1/", "/labco/inbound/b1"} {
		if got := batchFolder("labco", f); got != "labco/inbound/b1/" {
			t.Errorf("batchFolder(%q) = %q, want labco/inbound/b1/", f, got)
		}
	}
}
