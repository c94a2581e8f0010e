//go:build integration

// The alert rules, their promtool unit tests and the Alertmanager configs,
// checked with the tools Prometheus and Alertmanager ship (the pinned
// Debian packages deploy/local/install.sh installs) and read against each
// other: every alert says what it means and what to do, is tested both
// firing and quiet, and reaches the receiver its severity calls for.
package deploy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	alertRules     = "prometheus/rules/*.yml"
	alertRuleTests = "prometheus/tests/*.yml"
	amLocal        = "alertmanager/alertmanager.yml"
	amAWS          = "alertmanager/alertmanager-aws.yml"
	// The local webhook sink's endpoint for Alertmanager's notifications.
	sinkAlertsURL = "http://127.0.0.1:8086/alerts"
)

// tool finds a Prometheus or Alertmanager binary. A missing one fails the
// test: these checks are the only thing that runs the rules before a
// Prometheus does.
func tool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (%v): run deploy/local/install.sh, which installs Debian's prometheus and prometheus-alertmanager packages at the pinned versions", name, err)
	}
	return path
}

// run runs bin and returns its standard output; a failure fails the test
// with everything the tool said.
func run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// files expands pattern, failing when nothing matches: a moved folder must
// not make the checks pass on no input.
func files(t *testing.T, pattern string) []string {
	t.Helper()
	matches, err := filepath.Glob(pattern)
	if err != nil || len(matches) == 0 {
		t.Fatalf("no files match deploy/%s (%v)", pattern, err)
	}
	return matches
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// alerts returns the alerting rules of every rule file (recording rules
// have no alert name and are left out).
func alerts(t *testing.T) []alertRule {
	t.Helper()
	var all []alertRule
	for _, path := range files(t, alertRules) {
		var f struct {
			Groups []struct {
				Rules []alertRule `yaml:"rules"`
			} `yaml:"groups"`
		}
		readYAML(t, path, &f)
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					all = append(all, r)
				}
			}
		}
	}
	if len(all) == 0 {
		t.Fatalf("deploy/%s hold no alerting rules", alertRules)
	}
	return all
}

func TestAlertRulesAreValid(t *testing.T) {
	promtool := tool(t, "promtool")
	run(t, promtool, append([]string{"check", "rules"}, files(t, alertRules)...)...)
}

func TestAlertRuleUnitTestsPass(t *testing.T) {
	promtool := tool(t, "promtool")
	run(t, promtool, append([]string{"test", "rules"}, files(t, alertRuleTests)...)...)
}

// Every alert carries what Alertmanager routes on and what an operator
// reads, and its unit tests show it both firing and quiet: a rule that
// can never fire, or fires on healthy input, fails here.
func TestEveryAlertIsDocumentedAndTestedBothWays(t *testing.T) {
	rules := alerts(t)
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.Alert] {
			t.Errorf("alert %s is defined twice", r.Alert)
		}
		seen[r.Alert] = true
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("alert %s: severity %q, want critical or warning (Alertmanager routes on it)", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s has no %s annotation", r.Alert, a)
			}
		}
		if strings.Contains(r.Annotations["runbook"], "\n") {
			t.Errorf("alert %s: the runbook is one line, got %q", r.Alert, r.Annotations["runbook"])
		}
	}

	ruleFiles := files(t, alertRules)
	loaded := map[string]bool{}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, path := range files(t, alertRuleTests) {
		var f struct {
			RuleFiles []string `yaml:"rule_files"`
			Tests     []struct {
				AlertRuleTests []struct {
					EvalTime  string `yaml:"eval_time"`
					Alertname string `yaml:"alertname"`
					ExpAlerts []any  `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		readYAML(t, path, &f)
		for _, rf := range f.RuleFiles {
			// promtool resolves rule_files against the test file's folder.
			loaded[filepath.Clean(filepath.Join(filepath.Dir(path), rf))] = true
		}
		for _, g := range f.Tests {
			for _, c := range g.AlertRuleTests {
				// promtool passes a test of an unknown alert that expects
				// nothing: a misspelt name would test nothing.
				if !seen[c.Alertname] {
					t.Errorf("%s: the test at %s is for alert %q, which no rule defines", path, c.EvalTime, c.Alertname)
				}
				if len(c.ExpAlerts) > 0 {
					firing[c.Alertname] = true
				} else {
					quiet[c.Alertname] = true
				}
			}
		}
	}
	for _, rf := range ruleFiles {
		if !loaded[filepath.Clean(rf)] {
			t.Errorf("no file in deploy/%s loads deploy/%s (rule_files)", alertRuleTests, rf)
		}
	}
	for _, r := range rules {
		if !firing[r.Alert] {
			t.Errorf("alert %s has no unit test where it fires (exp_alerts with its labels and annotations)", r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("alert %s has no unit test where it must not fire (empty exp_alerts)", r.Alert)
		}
	}
}

// The README's table is where operators look an alert up.
func TestEveryAlertIsInTheREADME(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if first, _, ok := strings.Cut(strings.TrimPrefix(line, "| "), " |"); ok && strings.HasPrefix(line, "| `Ferry") {
			for _, name := range strings.Split(first, ", ") {
				rows[strings.Trim(name, "`")] = true
			}
		}
	}
	for _, r := range alerts(t) {
		if !rows[r.Alert] {
			t.Errorf("alert %s has no row in README.md's Alerts table", r.Alert)
		}
	}
}

func TestAlertmanagerConfigsAreValid(t *testing.T) {
	amtool := tool(t, "amtool")
	for _, path := range []string{amLocal, amAWS} {
		run(t, amtool, "check-config", path)
	}
}

// Each alert, with the labels its rule gives it, reaches the receiver for
// its severity in both configs; an alert without a severity still reaches
// someone.
func TestAlertmanagerRoutesEachSeverity(t *testing.T) {
	amtool := tool(t, "amtool")
	receivers := map[string]map[string]string{
		amLocal: {"critical": "sink-critical", "warning": "sink-warning", "": "sink-warning"},
		amAWS:   {"critical": "sns-page", "warning": "sns-ticket", "": "sns-ticket"},
	}
	route := func(path string, labels ...string) string {
		t.Helper()
		return strings.TrimSpace(run(t, amtool, append([]string{"config", "routes", "test", "--config.file=" + path}, labels...)...))
	}
	for path, want := range receivers {
		for _, r := range alerts(t) {
			labels := []string{"alertname=" + r.Alert, "partner=acme"}
			for k, v := range r.Labels {
				labels = append(labels, k+"="+v)
			}
			if got := route(path, labels...); got != want[r.Labels["severity"]] {
				t.Errorf("%s: alert %s (severity %s) reaches %q, want %q", path, r.Alert, r.Labels["severity"], got, want[r.Labels["severity"]])
			}
		}
		if got := route(path, "alertname=Unlabelled"); got != want[""] {
			t.Errorf("%s: an alert without a severity reaches %q, want %q", path, got, want[""])
		}
	}
}

type amConfig struct {
	Route struct {
		GroupBy []string `yaml:"group_by"`
	} `yaml:"route"`
	Receivers []struct {
		Name           string `yaml:"name"`
		WebhookConfigs []struct {
			URL          string `yaml:"url"`
			SendResolved bool   `yaml:"send_resolved"`
		} `yaml:"webhook_configs"`
		SNSConfigs []struct {
			TopicARN     string `yaml:"topic_arn"`
			SendResolved bool   `yaml:"send_resolved"`
			Sigv4        struct {
				Region string `yaml:"region"`
			} `yaml:"sigv4"`
			Subject    string            `yaml:"subject"`
			Message    string            `yaml:"message"`
			Attributes map[string]string `yaml:"attributes"`
		} `yaml:"sns_configs"`
	} `yaml:"receivers"`
}

// Where the receivers deliver: locally the webhook sink, in AWS a paging
// and a ticket topic; both say when an alert resolves.
func TestAlertmanagerReceiversDeliverWhereTheyShould(t *testing.T) {
	var local, aws amConfig
	readYAML(t, amLocal, &local)
	readYAML(t, amAWS, &aws)
	for path, c := range map[string]amConfig{amLocal: local, amAWS: aws} {
		if !slices.Equal(c.Route.GroupBy, []string{"alertname", "partner"}) {
			t.Errorf("%s: group_by %v, want [alertname partner]", path, c.Route.GroupBy)
		}
	}
	for _, r := range local.Receivers {
		if len(r.WebhookConfigs) == 0 || len(r.SNSConfigs) > 0 {
			t.Errorf("%s: receiver %s must send only to the webhook sink", amLocal, r.Name)
		}
		for _, w := range r.WebhookConfigs {
			if w.URL != sinkAlertsURL || !w.SendResolved {
				t.Errorf("%s: receiver %s sends to %s (send_resolved %v), want %s with send_resolved", amLocal, r.Name, w.URL, w.SendResolved, sinkAlertsURL)
			}
		}
	}
	topics := map[string]string{"sns-page": "ferry-alerts-critical", "sns-ticket": "ferry-alerts-warning"}
	for _, r := range aws.Receivers {
		if len(r.SNSConfigs) != 1 || len(r.WebhookConfigs) > 0 {
			t.Errorf("%s: receiver %s must publish to one SNS topic", amAWS, r.Name)
			continue
		}
		s := r.SNSConfigs[0]
		if !strings.HasPrefix(s.TopicARN, "arn:aws:sns:") || !strings.HasSuffix(s.TopicARN, ":"+topics[r.Name]) {
			t.Errorf("%s: receiver %s publishes to %q, want the %s topic's ARN", amAWS, r.Name, s.TopicARN, topics[r.Name])
		}
		if !s.SendResolved || s.Sigv4.Region == "" || s.Subject == "" || s.Message == "" {
			t.Errorf("%s: receiver %s needs send_resolved, sigv4.region, subject and message: %+v", amAWS, r.Name, s)
		}
		for _, a := range []string{"severity", "alertname"} {
			if s.Attributes[a] == "" {
				t.Errorf("%s: receiver %s sets no %s message attribute (subscription filter policies use it)", amAWS, r.Name, a)
			}
		}
		delete(topics, r.Name)
	}
	for name := range topics {
		t.Errorf("%s has no receiver %s", amAWS, name)
	}
}

// SNS refuses a subject over 100 characters or with a line break, and
// Alertmanager does not shorten it: the subject of the longest alert name
// must fit.
func TestSNSSubjectFits(t *testing.T) {
	amtool := tool(t, "amtool")
	var c amConfig
	readYAML(t, amAWS, &c)
	longest := ""
	for _, r := range alerts(t) {
		if len(r.Alert) > len(longest) {
			longest = r.Alert
		}
	}
	dir := t.TempDir()
	// amtool wants template files to load; the subject needs none.
	glob := filepath.Join(dir, "none.tmpl")
	data := filepath.Join(dir, "data.json")
	partner := strings.Repeat("p", 32) // a long partner name
	labels := `{"alertname":"` + longest + `","partner":"` + partner + `","severity":"critical"}`
	alert := `{"status":"firing","labels":` + labels + `,"annotations":{},"startsAt":"2026-01-02T03:04:05Z","endsAt":"0001-01-01T00:00:00Z"}`
	body := `{"receiver":"sns-page","status":"firing","alerts":[` + alert + `,` + alert + `],"groupLabels":{},"commonLabels":` + labels + `,"commonAnnotations":{},"externalURL":""}`
	if err := os.WriteFile(glob, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, r := range c.Receivers {
		for _, s := range r.SNSConfigs {
			subject := strings.TrimSuffix(run(t, amtool, "template", "render", "--template.glob="+glob, "--template.data="+data, "--template.text="+s.Subject), "\n")
			if len(subject) > 100 || strings.ContainsAny(subject, "\r\n") || !strings.Contains(subject, longest) {
				t.Errorf("%s: receiver %s's subject %q (%d characters) is not one line of at most 100 naming the alert", amAWS, r.Name, subject, len(subject))
			}
		}
	}
}
