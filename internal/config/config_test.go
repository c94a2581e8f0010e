package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, yaml string, args ...string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	BindFlags(fs)
	fs.String("file-id", "", "a command's own flag, not a config key")
	if err := fs.Parse(append([]string{"--config", path}, args...)); err != nil {
		t.Fatal(err)
	}
	return Load(fs)
}

func goodYAML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadGood(t *testing.T) {
	c, err := load(t, goodYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Landing.TemporarySuffixes) == 0 {
		t.Error("no default temporary upload suffixes")
	}
	if c.Temporal.TaskQueue != "ferry-ingest" || c.DynamoDB.FilesTable != "ferry-files" {
		t.Errorf("defaults not applied: %+v %+v", c.Temporal, c.DynamoDB)
	}
	if c.Delivery.SmallFileMaxBytes != 8<<20 {
		t.Errorf("delivery.small_file_max_bytes defaults to %d, want 8 MiB", c.Delivery.SmallFileMaxBytes)
	}
	acme := c.Partners["acme"]
	if acme.Destination.Bucket != "delivered" || acme.Rules.MaxSizeBytes != 1048576 || len(acme.Rules.AllowedExtensions) != 2 {
		t.Errorf("partner acme not read: %+v", acme)
	}
}

func TestEnvAndFlagsOverride(t *testing.T) {
	t.Setenv("FERRY_BRIDGE_AUTH_TOKEN", "s3cret")
	t.Setenv("FERRY_LANDING_BUCKET", "landing-from-env")
	c, err := load(t, goodYAML(t), "--temporal.address", "temporal.example:7233", "--file-id", "x")
	if err != nil {
		t.Fatal(err)
	}
	if c.Bridge.AuthToken != "s3cret" || c.Landing.Bucket != "landing-from-env" {
		t.Errorf("env did not override: token=%q landing=%q", c.Bridge.AuthToken, c.Landing.Bucket)
	}
	if c.Temporal.Address != "temporal.example:7233" {
		t.Errorf("flag did not override: %q", c.Temporal.Address)
	}
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	good := goodYAML(t)
	tests := []struct {
		name, yaml, want string
	}{
		{"missing landing", strings.Replace(good, "  bucket: landing\n", "", 1), "landing.bucket is required"},
		{"misspelt key", strings.Replace(good, "max_size_bytes", "max_size_byte", 1), "max_size_byte"},
		{"bad extension", strings.Replace(good, `".csv"`, `"csv"`, 1), "partners.acme.rules.allowed_extensions"},
		{"bad webhook", strings.Replace(good, "http://127.0.0.1:8086/notify", "ftp://x", 1), "notify.webhooks[0].url"},
		{"bad partner name", strings.Replace(good, "  acme:", "  acme_corp:", 1), "partners.acme_corp"},
		{"prefix without slash", strings.Replace(good, "prefix: acme/", "prefix: acme", 1), "partners.acme.destination.prefix"},
		{"delivering into landing", strings.Replace(good, "bucket: delivered", "bucket: landing", 1), "must differ from landing.bucket"},
		{"no partners", good[:strings.Index(good, "partners:")], "at least one partner"},
		{"not yaml", "temporal: [", "reading"},
		{"kms without key", strings.Replace(good, "    rules:", "    governance:\n      encryption: SSE-KMS\n    rules:", 1), "partners.acme.governance.encryption SSE-KMS needs kms_key_id"},
		{"retention without days", strings.Replace(good, "    rules:", "    governance:\n      retention_mode: COMPLIANCE\n    rules:", 1), "partners.acme.governance.retention_mode COMPLIANCE needs retention_days"},
		{"delivering into quarantine", strings.Replace(good, "bucket: delivered", "bucket: quarantine", 1), "must differ from quarantine.bucket"},
		{"sidecar without timeout", strings.Replace(good, "      max_size_bytes: 1048576", "      max_size_bytes: 1048576\n      sidecar:\n        required: true", 1), "partners.acme.rules.sidecar.timeout must be a positive duration"},
		{"escalation without approvers", strings.Replace(good, "    rules:", "    approval:\n      approvers: [alice]\n      deadline: 72h\n      on_deadline: escalate\n    rules:", 1), "partners.acme.approval.on_deadline escalate needs escalation_approvers"},
		{"tiny part size", strings.Replace(good, "partners:", "delivery:\n  part_size_bytes: 1024\npartners:", 1), "delivery.part_size_bytes must be between 5 MiB and 5 GiB"},
		{"small files copied in parts", strings.Replace(good, "partners:", "delivery:\n  multipart_threshold_bytes: 67108864\n  small_file_max_bytes: 67108865\npartners:", 1),
			"delivery.small_file_max_bytes must be between 0 (no fast path) and delivery.multipart_threshold_bytes (67108864), got 67108865"},
		{"negative small files", strings.Replace(good, "partners:", "delivery:\n  small_file_max_bytes: -1\npartners:", 1), "delivery.small_file_max_bytes must be between 0"},
		{"route to an unknown partner", strings.Replace(good, "url: http://127.0.0.1:8086/notify", "url: http://127.0.0.1:8086/notify\n      partners: [acme, initek]", 1), `notify.webhooks[0].partners[1] "initek" is not a configured partner`},
		{"route to an unknown type", strings.Replace(good, "url: http://127.0.0.1:8086/notify", "url: http://127.0.0.1:8086/notify\n      types: [file.quarantine]", 1), `notify.webhooks[0].types[0] "file.quarantine" is not a notification type`},
		{"secret in the file", strings.Replace(good, "url: http://127.0.0.1:8086/notify", "url: http://127.0.0.1:8086/notify\n      secret: hunter2", 1), "secret"},
		{"secret env unset", strings.Replace(good, "url: http://127.0.0.1:8086/notify", "url: http://127.0.0.1:8086/notify\n      secret_env: FERRY_TEST_UNSET_SECRET", 1), "notify.webhooks[0].secret_env: the environment variable FERRY_TEST_UNSET_SECRET is unset"},
		{"sns without topic", strings.Replace(good, "notify:\n", "notify:\n  sns:\n    - name: alerts\n", 1), "notify.sns[0].topic is required"},
		{"sns bad arn", strings.Replace(good, "notify:\n", "notify:\n  sns:\n    - name: alerts\n      topic: arn:aws:sqs:us-east-1:123456789012:q\n", 1), `notify.sns[0].topic "arn:aws:sqs:us-east-1:123456789012:q" is not an SNS topic ARN`},
		{"sns bad name", strings.Replace(good, "notify:\n", "notify:\n  sns:\n    - name: alerts\n      topic: ferry alerts\n", 1), `notify.sns[0].topic "ferry alerts" is not an SNS topic name`},
		{"sns unknown partner", strings.Replace(good, "notify:\n", "notify:\n  sns:\n    - name: alerts\n      topic: ferry-alerts\n      partners: [globex]\n", 1), `notify.sns[0].partners[0] "globex" is not a configured partner`},
		{"duplicate target names", strings.Replace(good, "notify:\n", "notify:\n  sns:\n    - name: ops\n      topic: ferry-alerts\n", 1), `notify.sns[0].name "ops" is also notify.webhooks[0]'s`},
		{"negative reconcile grace", strings.Replace(good, "partners:", "reconcile:\n  grace: -1s\npartners:", 1), "reconcile.grace must be a duration of 0 or more"},
		{"batch without manifest", strings.Replace(good, "    rules:", "    batch:\n      timeout: 2h\n    rules:", 1), "partners.acme.batch.manifest is required"},
		{"batch manifest with a folder", strings.Replace(good, "    rules:", "    batch:\n      manifest: [\"b/*.json\"]\n      timeout: 2h\n    rules:", 1), `partners.acme.batch.manifest[0] "b/*.json" must be a file name pattern`},
		{"batch manifest bad pattern", strings.Replace(good, "    rules:", "    batch:\n      manifest: [\"[x\"]\n      timeout: 2h\n    rules:", 1), `partners.acme.batch.manifest[0] "[x"`},
		{"batch without timeout", strings.Replace(good, "    rules:", "    batch:\n      manifest: [\"*.manifest.json\"]\n    rules:", 1), "partners.acme.batch.timeout must be a duration of at least 1s"},
		{"batch sha256 manifest with sidecars", strings.Replace(good, "      max_size_bytes: 1048576", "      max_size_bytes: 1048576\n      sidecar:\n        required: true\n        timeout: 1m\n    batch:\n      manifest: [\"*.sha256\"]\n      timeout: 2h", 1),
			`partners.acme.batch.manifest[0] "*.sha256" ends in .sha256, which this partner's rules.sidecar reserves`},
		{"bad temporary suffix", strings.Replace(good, "  bucket: landing\n", "  bucket: landing\n  temporary_suffixes: [part]\n", 1), "landing.temporary_suffixes[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestNotificationTargetsWithRoutesAndSecretFromEnv(t *testing.T) {
	t.Setenv("FERRY_TEST_OPS_SECRET", "s3cret")
	yaml := strings.Replace(goodYAML(t), "url: http://127.0.0.1:8086/notify", "url: http://127.0.0.1:8086/notify\n      secret_env: FERRY_TEST_OPS_SECRET\n      types: [file.quarantined]", 1)
	yaml = strings.Replace(yaml, "notify:\n", "notify:\n  sns:\n    - name: acme-topic\n      topic: arn:aws:sns:us-east-1:123456789012:ferry-acme.fifo\n      partners: [acme]\n    - name: all\n      topic: ferry-all\n", 1)
	c, err := load(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Notify.Webhooks[0]
	if w.Secret != "s3cret" || len(w.Types) != 1 {
		t.Errorf("webhook %+v: want the secret from FERRY_TEST_OPS_SECRET and one type", w)
	}
	if len(c.Notify.SNS) != 2 || c.Notify.SNS[0].Partners[0] != "acme" || c.Notify.SNS[1].Topic != "ferry-all" {
		t.Errorf("sns targets %+v", c.Notify.SNS)
	}
}

func TestBatch(t *testing.T) {
	yaml := strings.Replace(goodYAML(t), "    rules:", "    batch:\n      manifest: [\"*.manifest.json\", \"*.sha256\"]\n      timeout: 2h\n    rules:", 1)
	c, err := load(t, yaml)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Partners["acme"].Batch
	if b == nil || len(b.Manifest) != 2 || b.Timeout != 2*time.Hour {
		t.Fatalf("batch not read: %+v", b)
	}
	c, err = load(t, goodYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Partners["acme"].Batch != nil {
		t.Fatal("a partner without batch: has a batch policy")
	}
}

func TestRouteMatches(t *testing.T) {
	tests := []struct {
		route        Route
		partner, typ string
		want         bool
	}{
		{Route{}, "acme", "file.delivered", true},
		{Route{Partners: []string{"acme"}}, "acme", "file.delivered", true},
		{Route{Partners: []string{"acme"}}, "globex", "file.delivered", false},
		{Route{Types: []string{"file.quarantined"}}, "globex", "file.quarantined", true},
		{Route{Types: []string{"file.quarantined"}}, "globex", "file.delivered", false},
		{Route{Partners: []string{"acme", "globex"}, Types: []string{"file.quarantined", "file.rejected"}}, "globex", "file.rejected", true},
		{Route{Partners: []string{"acme"}, Types: []string{"file.quarantined"}}, "globex", "file.quarantined", false},
	}
	for _, tt := range tests {
		if got := tt.route.Matches(tt.partner, tt.typ); got != tt.want {
			t.Errorf("%+v.Matches(%s, %s) = %v, want %v", tt.route, tt.partner, tt.typ, got, tt.want)
		}
	}
}

func TestNoConfigFileSaysHowToGiveOne(t *testing.T) {
	t.Setenv("FERRY_CONFIG", "")
	_, err := Load(pflag.NewFlagSet("x", pflag.ContinueOnError))
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("got %v", err)
	}
}

func TestMetricsAndLogSettings(t *testing.T) {
	t.Setenv("FERRY_METRICS_BRIDGE_LISTEN", "127.0.0.1:9465")
	c, err := load(t, goodYAML(t)+"\nmetrics:\n  worker_listen: 127.0.0.1:9464\nlog:\n  format: json\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics.WorkerListen != "127.0.0.1:9464" || c.Metrics.BridgeListen != "127.0.0.1:9465" || c.Log.Format != "json" || c.Log.Level != "info" {
		t.Errorf("metrics or log settings not read: %+v %+v", c.Metrics, c.Log)
	}
	for _, tc := range []struct{ yaml, field string }{
		{"metrics:\n  worker_listen: 9464\n", "metrics.worker_listen"},
		{"metrics:\n  bridge_listen: localhost\n", "metrics.bridge_listen"},
		{"metrics:\n  worker_listen: 127.0.0.1:9464\n  bridge_listen: 127.0.0.1:9464\n", "must differ"},
		{"log:\n  format: yaml\n", "log.format"},
		{"log:\n  level: loud\n", "log.level"},
	} {
		t.Setenv("FERRY_METRICS_BRIDGE_LISTEN", "")
		_, err := load(t, goodYAML(t)+"\n"+tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%q: want an error naming %s, got %v", tc.yaml, tc.field, err)
		}
	}
}

func TestAuditVerifyInterval(t *testing.T) {
	c, err := load(t, goodYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.VerifyInterval != time.Hour {
		t.Errorf("audit.verify_interval defaults to %s, want 1h", c.Audit.VerifyInterval)
	}
	for yaml, want := range map[string]time.Duration{"audit:\n  verify_interval: 0s\n": 0, "audit:\n  verify_interval: 5m\n": 5 * time.Minute} {
		c, err := load(t, goodYAML(t)+"\n"+yaml)
		if err != nil {
			t.Errorf("%q: %v", yaml, err)
		} else if c.Audit.VerifyInterval != want {
			t.Errorf("%q: verify interval %s, want %s", yaml, c.Audit.VerifyInterval, want)
		}
	}
	t.Setenv("FERRY_AUDIT_VERIFY_INTERVAL", "2h")
	if c, err := load(t, goodYAML(t)); err != nil || c.Audit.VerifyInterval != 2*time.Hour {
		t.Errorf("FERRY_AUDIT_VERIFY_INTERVAL=2h not applied: %v", err)
	}
	for _, v := range []string{"-1m", "10s"} {
		t.Setenv("FERRY_AUDIT_VERIFY_INTERVAL", v)
		if _, err := load(t, goodYAML(t)); err == nil || !strings.Contains(err.Error(), "audit.verify_interval") {
			t.Errorf("audit.verify_interval %s: want an error naming it, got %v", v, err)
		}
	}
}

func TestTemporalCredentials(t *testing.T) {
	good := goodYAML(t)
	withTemporal := func(extra string) string {
		return strings.Replace(good, "temporal:\n", "temporal:\n"+extra, 1)
	}
	c, err := load(t, withTemporal("  tls:\n    ca_file: /etc/ferry/temporal/ca.pem\n    cert_file: /etc/ferry/temporal/tls.crt\n    key_file: /etc/ferry/temporal/tls.key\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Temporal.On() || c.Temporal.TLS.KeyFile != "/etc/ferry/temporal/tls.key" {
		t.Errorf("TLS settings not read: %+v", c.Temporal)
	}
	if c, err := load(t, good); err != nil || c.Temporal.On() {
		t.Errorf("without TLS settings the connection is plain TCP; got %+v, %v", c.Temporal, err)
	}

	t.Setenv(APIKeyEnv, " key-from-env\n")
	c, err = load(t, good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Temporal.APIKey != "key-from-env" || !c.Temporal.On() {
		t.Errorf("API key from %s not read (or TLS not implied): %+v", APIKeyEnv, c.Temporal)
	}
	if _, err := load(t, withTemporal("  api_key_file: /etc/ferry/temporal/api-key\n")); err == nil || !strings.Contains(err.Error(), "keep one") {
		t.Errorf("a key from both the environment and a file: %v", err)
	}
	t.Setenv(APIKeyEnv, "")

	for _, tc := range []struct{ name, yaml, want string }{
		{"API key in the file", withTemporal("  api_key: abc\n"), "temporal.api_key must not be in the config file"},
		{"certificate without key", withTemporal("  tls:\n    cert_file: /x/tls.crt\n"), "temporal.tls.cert_file and temporal.tls.key_file go together"},
		{"misspelt TLS key", withTemporal("  tls:\n    ca: /x/ca.pem\n"), "ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yaml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

func TestWorkerStopTimeout(t *testing.T) {
	c, err := load(t, goodYAML(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Worker.StopTimeout != 30*time.Second {
		t.Errorf("worker.stop_timeout defaults to %s, want 30s", c.Worker.StopTimeout)
	}
	if c, err := load(t, goodYAML(t)+"\nworker:\n  stop_timeout: 2m\n"); err != nil || c.Worker.StopTimeout != 2*time.Minute {
		t.Errorf("worker.stop_timeout: 2m not read (%v)", err)
	}
	t.Setenv("FERRY_WORKER_STOP_TIMEOUT", "-1s")
	if _, err := load(t, goodYAML(t)); err == nil || !strings.Contains(err.Error(), "worker.stop_timeout") {
		t.Errorf("worker.stop_timeout -1s: want an error naming it, got %v", err)
	}
}

// withExpectations adds acme's expectations (YAML list items, indented
// for partners.acme.expectations) to the good config.
func withExpectations(t *testing.T, items string) string {
	t.Helper()
	return goodYAML(t) + "    expectations:\n" + items
}

func TestExpectationsAreRead(t *testing.T) {
	c, err := load(t, withExpectations(t, `      - name: labs
        pattern: labs_*.csv
        days: [mon, tue, wed, thu, fri]
        time_zone: Europe/Berlin
        deadline: "06:00"
        warn_at: "05:30"
      - name: monthly
        pattern: "*.xml"
        cron: "0 18 1 * *"
        time_zone: UTC
`))
	if err != nil {
		t.Fatal(err)
	}
	all := c.Expectations()
	if len(all) != 2 || all[0].Partner != "acme" || all[0].Spec.Deadline != "06:00" || all[1].Spec.Cron != "0 18 1 * *" {
		t.Fatalf("expectations %+v", all)
	}
}

func TestInvalidExpectationNamesTheField(t *testing.T) {
	good := `      - name: labs
        pattern: labs_*.csv
        days: [mon, tue, wed, thu, fri]
        time_zone: Europe/Berlin
        deadline: "06:00"
        warn_at: "05:30"
`
	tests := []struct{ name, items, want string }{
		{"deadline not a time", strings.Replace(good, `"06:00"`, `"25:00"`, 1), `partners.acme.expectations[0].deadline: "25:00" is not a time of day (HH:MM)`},
		{"warning after deadline", strings.Replace(good, `"05:30"`, `"06:30"`, 1), `partners.acme.expectations[0].warn_at: "06:30" must be before the deadline (06:00)`},
		{"warning not a time", strings.Replace(good, `"05:30"`, `"half past five"`, 1), `partners.acme.expectations[0].warn_at: "half past five" is not a time of day`},
		{"unknown zone", strings.Replace(good, "Europe/Berlin", "Europe/Bonn", 1), `partners.acme.expectations[0].time_zone: "Europe/Bonn" is not an IANA time zone`},
		{"no zone", strings.Replace(good, "        time_zone: Europe/Berlin\n", "", 1), "partners.acme.expectations[0].time_zone: is required"},
		{"bad day", strings.Replace(good, "fri]", "fry]", 1), `partners.acme.expectations[0].days[4]: "fry" is not a day`},
		{"no calendar", strings.Replace(good, "        days: [mon, tue, wed, thu, fri]\n", "", 1), "partners.acme.expectations[0].days: give the days"},
		{"days and cron", strings.Replace(good, "        deadline:", "        cron: \"0 6 * * 1-5\"\n        deadline:", 1), "partners.acme.expectations[0].cron: give days (with deadline) or cron"},
		{"cron and deadline", strings.Replace(good, "        days: [mon, tue, wed, thu, fri]\n", "        cron: \"0 6 * * 1-5\"\n", 1), "partners.acme.expectations[0].deadline: leave it out with cron"},
		{"cron with several hours", strings.Replace(strings.Replace(good, "        days: [mon, tue, wed, thu, fri]\n", "        cron: \"0 6,18 * * 1-5\"\n", 1), "        deadline: \"06:00\"\n", "", 1), "must name one minute and one hour"},
		{"cron not cron", strings.Replace(strings.Replace(good, "        days: [mon, tue, wed, thu, fri]\n", "        cron: \"0 6 * * funday\"\n", 1), "        deadline: \"06:00\"\n", "", 1), `partners.acme.expectations[0].cron: "0 6 * * funday" is not a cron expression`},
		{"cron both day fields", strings.Replace(strings.Replace(good, "        days: [mon, tue, wed, thu, fri]\n", "        cron: \"0 6 1 * 1\"\n", 1), "        deadline: \"06:00\"\n", "", 1), "restricts both day-of-month and day-of-week"},
		{"bad name", strings.Replace(good, "name: labs", "name: Labs Daily", 1), `partners.acme.expectations[0].name: "Labs Daily" must be 1-40 characters`},
		{"bad pattern", strings.Replace(good, "labs_*.csv", `"labs_[.csv"`, 1), `partners.acme.expectations[0].pattern: "labs_[.csv" is not a valid glob`},
		{"duplicate name", good + good, `partners.acme.expectations[1].name "labs" is also partners.acme.expectations[0]'s`},
		{"unknown key", strings.Replace(good, "warn_at:", "warn_before:", 1), "warn_before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, withExpectations(t, tt.items))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := load(t, withExpectations(t, good)); err != nil {
		t.Fatalf("the good expectation is refused: %v", err)
	}
}

func TestExpectationNotificationTypesRoute(t *testing.T) {
	yaml := strings.Replace(goodYAML(t), "url: http://127.0.0.1:8086/notify", "url: http://127.0.0.1:8086/notify\n      types: [partner.file_late, partner.file_missing, partner.file_arrived_late]", 1)
	if _, err := load(t, yaml); err != nil {
		t.Fatalf("routing the expectations' notification types: %v", err)
	}
}
