package configrender

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/config"
)

const base = `
temporal:
  address: temporal.example:7233
partners:
  globex:
    rules:
      allowed_extensions: [".csv"]
    governance:
      encryption: SSE-KMS
      source_after_delivery: tag
    approval:
      approvers: [carol, dave]
      required_approvals: 2
notify:
  sns:
    - name: ops-page
      topic: arn:aws:sns:eu-west-1:123456789012:ops
      types: [file.failed]
`

func outputs(t *testing.T) *Outputs {
	t.Helper()
	b, err := os.ReadFile("testdata/terraform-output.json")
	if err != nil {
		t.Fatal(err)
	}
	o, err := ParseOutputs(b)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// load reads a rendered file the way the worker does.
func load(t *testing.T, rendered []byte) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("worker", pflag.ContinueOnError)
	c, err := config.FromArgs(fs, []string{"--config", path})
	if err != nil {
		t.Fatalf("Ferry refuses the rendered config: %v\n%s", err, rendered)
	}
	return c
}

func TestRenderedConfigCarriesTerraformsNamesAndKeepsTheBase(t *testing.T) {
	rendered, err := Render(outputs(t), []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	c := load(t, rendered)
	for _, tt := range []struct{ field, got, want string }{
		{"landing.bucket", c.Landing.Bucket, "ferry-landing-123456789012-eu-west-1"},
		{"quarantine.bucket", c.Quarantine.Bucket, "ferry-quarantine-123456789012-eu-west-1"},
		{"dynamodb.files_table", c.DynamoDB.FilesTable, "ferry-files"},
		{"dynamodb.audit_table", c.DynamoDB.AuditTable, "ferry-audit"},
		{"bridge.sqs.queue", c.Bridge.SQS.Queue, "ferry-events"},
		{"bridge.sqs.dead_letter_queue", c.Bridge.SQS.DeadLetterQueue, "ferry-events-dlq"},
		{"bridge.sqs.visibility_timeout", c.Bridge.SQS.VisibilityTimeout.String(), "1m0s"},
		{"temporal.address (base)", c.Temporal.Address, "temporal.example:7233"},
		{"partners.acme.destination.bucket", c.Partners["acme"].Destination.Bucket, "ferry-delivered-123456789012-eu-west-1"},
		{"partners.acme.destination.prefix", c.Partners["acme"].Destination.Prefix, "acme/"},
		// A partner without governance in the base gets the module's.
		{"partners.acme.governance.encryption", c.Partners["acme"].Governance.Encryption, "SSE-KMS"},
		{"partners.acme.governance.kms_key_id", c.Partners["acme"].Governance.KMSKeyID, "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"partners.acme.governance.retention_mode", c.Partners["acme"].Governance.RetentionMode, "GOVERNANCE"},
		// One with governance keeps it; only the key is filled in.
		{"partners.globex.governance.kms_key_id", c.Partners["globex"].Governance.KMSKeyID, "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
		{"partners.globex.governance.retention_mode", c.Partners["globex"].Governance.RetentionMode, ""},
		{"partners.globex.governance.source_after_delivery", c.Partners["globex"].Governance.SourceAfterDelivery, "tag"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.field, tt.got, tt.want)
		}
	}
	if c.Bridge.SQS.MaxReceives != 10 || c.Partners["acme"].Governance.RetentionDays != 2555 {
		t.Errorf("max_receives %d, acme retention_days %d; want 10 and 2555", c.Bridge.SQS.MaxReceives, c.Partners["acme"].Governance.RetentionDays)
	}
	if got := c.Partners["globex"].Approval.RequiredApprovals; got != 2 {
		t.Errorf("globex's approval from the base was lost: required_approvals %d", got)
	}
	if len(c.Notify.SNS) != 2 || c.Notify.SNS[0].Name != "ops-page" || c.Notify.SNS[1].Name != SNSTargetName ||
		c.Notify.SNS[1].Topic != "arn:aws:sns:eu-west-1:123456789012:ferry-notifications" {
		t.Errorf("notify.sns = %+v; want the base's ops-page and %s on the module's topic", c.Notify.SNS, SNSTargetName)
	}

	// Rendering again over the rendered file changes nothing.
	again, err := Render(outputs(t), rendered)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(rendered) {
		t.Errorf("rendering over a rendered file changed it:\n%s\nthen\n%s", rendered, again)
	}
}

func TestRenderWithoutABaseGivesAConfigFerryAccepts(t *testing.T) {
	rendered, err := Render(outputs(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := load(t, rendered)
	if got := c.PartnerNames(); strings.Join(got, ",") != "acme,globex" {
		t.Errorf("partners %v, want Terraform's acme and globex", got)
	}
}

func TestRenderRefusesWhatFerryWouldRefuse(t *testing.T) {
	for _, tt := range []struct{ name, base, want string }{
		{"a partner Terraform does not know", "partners:\n  umbrella: {}\n", "partners umbrella are not in Terraform's partners (acme, globex)"},
		{"a bad rule in the base", "partners:\n  acme:\n    rules:\n      max_size_bytes: -1\n", "partners.acme.rules"},
		{"a misspelt key", "temporal:\n  adress: x:7233\n", "adress"},
		{"not YAML", "partners: [\n", "base config"},
	} {
		_, err := Render(outputs(t), []byte(tt.base))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestParseOutputsSaysWhatIsWrong(t *testing.T) {
	b, err := os.ReadFile("testdata/terraform-output.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "not a JSON object"},
		{"another root's outputs", `{"vpc_id": {"value": "vpc-1"}}`, "no output ferry_config"},
		{"an older module", `{"ferry_config": {"value": {"landing_bucket": "l", "partners": {"a": {}}}}}`, "lacks audit_table, dead_letter_queue"},
	} {
		_, err := ParseOutputs([]byte(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	// `terraform output -json ferry_config` prints the value alone.
	s := string(b)
	value := s[strings.Index(s, `"value": {`)+len(`"value": `) : strings.Index(s, "\n  },\n  \"sftp_endpoint\"")]
	if o, err := ParseOutputs([]byte(strings.TrimSpace(value))); err != nil || o.LandingBucket != "ferry-landing-123456789012-eu-west-1" {
		t.Errorf("the value alone: %v, %+v", err, o)
	}
}
