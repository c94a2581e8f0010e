//go:build integration

// terraform fmt and tflint over deploy/terraform, with the pinned binaries
// deploy/local/install.sh builds. Neither reaches the network: tflint uses
// only the terraform ruleset bundled in its binary (no plugin directory,
// no --init), terraform only formats.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// installedTool runs deploy/local/install.sh (quick when all is there)
// and returns the path it reports for key.
func installedTool(t *testing.T, key string) string {
	t.Helper()
	cmd := exec.Command("local/install.sh")
	cmd.Stderr = os.Stderr // a first build takes minutes: say so
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("deploy/local/install.sh: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == key {
			return v
		}
	}
	t.Fatalf("deploy/local/install.sh reported no %s:\n%s", key, out)
	return ""
}

// offline is an environment for the tools that keeps them off the
// network and away from the caller's own Terraform settings.
func offline(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	rc := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(rc, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(),
		"TF_CLI_CONFIG_FILE="+rc, "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1",
		"TFLINT_PLUGIN_DIR="+filepath.Join(dir, "plugins"), "TFLINT_LOG=",
	)
}

func runTool(t *testing.T, env []string, bin string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
}

func TestTerraformIsFormatted(t *testing.T) {
	tf := installedTool(t, "TERRAFORM_BIN")
	runTool(t, offline(t), tf, "fmt", "-check", "-recursive", "-diff", "terraform")
}

func TestTflintFindsNothing(t *testing.T) {
	tflint := installedTool(t, "TFLINT_BIN")
	conf, err := filepath.Abs("terraform/.tflint.hcl")
	if err != nil {
		t.Fatal(err)
	}
	runTool(t, offline(t), tflint, "--chdir", "terraform", "--config", conf, "--recursive", "--format", "compact")
}
