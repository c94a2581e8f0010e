package starter

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/configrender"
)

const configUsage = `usage: terraform output -json | ferry config from-terraform [--base FILE] [--out FILE]

Renders Ferry's config file from the ferry_config output of Ferry's Terraform
module (deploy/terraform), merged into --base (partners' rules, governance and
approvers, temporal.address, webhooks). The result is checked as Ferry checks
its config at start, then written to --out (default: standard output).
`

// runConfig is `ferry config from-terraform`.
func runConfig(args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "from-terraform" {
		return fmt.Errorf("unknown or missing subcommand\n\n%s", configUsage)
	}
	fs := pflag.NewFlagSet("config from-terraform", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	base := fs.String("base", "", "YAML file with what Terraform does not know (partners' rules, approvals, temporal.address)")
	out := fs.String("out", "", "write the config here rather than to standard output")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n\n%s", err, configUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v: the terraform outputs come on standard input\n\n%s", fs.Args(), configUsage)
	}
	in, err := io.ReadAll(stdin)
	if err != nil {
		return fmt.Errorf("reading the terraform outputs from standard input: %w", err)
	}
	o, err := configrender.ParseOutputs(in)
	if err != nil {
		return err
	}
	var baseYAML []byte
	if *base != "" {
		if baseYAML, err = os.ReadFile(*base); err != nil {
			return fmt.Errorf("--base: %w", err)
		}
	}
	rendered, err := configrender.Render(o, baseYAML)
	if err != nil {
		if *base != "" {
			return fmt.Errorf("%s: %w", *base, err)
		}
		return err
	}
	if *out != "" {
		return os.WriteFile(*out, rendered, 0o644)
	}
	_, err = stdout.Write(rendered)
	return err
}

// loadConfig loads the config a command's flags name and checks the
// partner the operator gave (if any), so a misspelt one is refused,
// naming the partners there are, before anything is read.
func loadConfig(fs *pflag.FlagSet, partner string) (*config.Config, error) {
	cfg, err := config.Load(fs)
	if err != nil {
		return nil, err
	}
	if partner != "" {
		if err := cfg.CheckPartner(partner); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}
