//go:build integration

// The Helm chart (helm/ferry), checked as far as this machine can without
// a cluster: helm lint, helm template with several values sets validated
// by kubeconform -strict against schemas generated from Kubernetes' own
// OpenAPI spec (helm/kubeschema), and the rendering read against the code
// it deploys: the config loads, ports and probes are the ones the
// processes serve, grace periods outlast their shutdowns.
package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ferrydata/ferry/deploy/helm/kubeschema"
	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/health"
	"github.com/ferrydata/ferry/internal/metrics"
)

const chartDir = "helm/ferry"

// kubeVersion is the Kubernetes version the chart is rendered for, the
// one whose API the schemas describe.
var kubeVersion = strings.TrimPrefix(kubeschema.KubernetesVersion, "v")

// valuesSets are the renderings every check runs on: the defaults and
// the files in helm/testdata.
var valuesSets = []struct {
	name, file string
	roles      map[string]string // component: the IAM role annotation wanted ("" none)
}{
	{"defaults", "", map[string]string{"worker": "arn:aws:iam::123456789012:role/ferry-worker", "bridge": "arn:aws:iam::123456789012:role/ferry-bridge"}},
	{"all-on", "helm/testdata/all-on.yaml", map[string]string{"worker": "arn:aws:iam::123456789012:role/ferry-worker", "bridge": "arn:aws:iam::123456789012:role/ferry-bridge"}},
	{"minimal", "helm/testdata/minimal.yaml", map[string]string{"worker": "", "bridge": ""}},
}

// k8sTools are helm and kubeconform (deploy/local/install.sh builds them,
// pinned) and the generated schemas, found once per test binary.
var k8sTools struct {
	once                   sync.Once
	helm, kubeconform, dir string
	err                    error
}

func tools(t *testing.T) (helm, kubeconform, schemas string) {
	t.Helper()
	k8sTools.once.Do(func() {
		cmd := exec.Command("local/install.sh")
		cmd.Stderr = os.Stderr // a first build takes minutes: say so
		out, err := cmd.Output()
		if err != nil {
			k8sTools.err = fmt.Errorf("deploy/local/install.sh: %w", err)
			return
		}
		for _, line := range strings.Split(string(out), "\n") {
			switch k, v, _ := strings.Cut(line, "="); k {
			case "HELM_BIN":
				k8sTools.helm = v
			case "KUBECONFORM_BIN":
				k8sTools.kubeconform = v
			}
		}
		if k8sTools.helm == "" || k8sTools.kubeconform == "" {
			k8sTools.err = fmt.Errorf("deploy/local/install.sh reported no HELM_BIN or KUBECONFORM_BIN:\n%s", out)
			return
		}
		cache := os.Getenv("FERRY_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				k8sTools.err = err
				return
			}
			cache = filepath.Join(home, ".cache", "ferry")
		}
		k8sTools.dir, k8sTools.err = kubeschema.Ensure(cache)
	})
	if k8sTools.err != nil {
		t.Fatal(k8sTools.err)
	}
	return k8sTools.helm, k8sTools.kubeconform, k8sTools.dir
}

// helmCmd runs helm with its cache, config and data in fresh folders, so
// it reads no repositories or plugins of the machine's and has nowhere to
// go on the network (the chart has no dependencies).
func helmCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	helm, _, _ := tools(t)
	home := t.TempDir()
	cmd := exec.Command(helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), err
}

// render is helm template of the chart with a values file (or none) and
// --set flags.
func render(t *testing.T, file string, set ...string) (string, error) {
	t.Helper()
	args := []string{"template", "ferry", chartDir, "--namespace", "ferry", "--kube-version", kubeVersion}
	if file != "" {
		args = append(args, "--values", file)
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return helmCmd(t, args...)
}

func mustRender(t *testing.T, file string, set ...string) string {
	t.Helper()
	out, err := render(t, file, set...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kubeconform validates manifests strictly against the generated schemas
// (and only those: it never reaches for the network).
func kubeconform(t *testing.T, manifests string) (string, error) {
	t.Helper()
	_, bin, schemas := tools(t)
	cmd := exec.Command(bin, "-strict", "-summary",
		"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json"), "-")
	cmd.Stdin = strings.NewReader(manifests)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestHelmLint(t *testing.T) {
	for _, v := range valuesSets {
		args := []string{"lint", "--strict", chartDir, "--kube-version", kubeVersion}
		if v.file != "" {
			args = append(args, "--values", v.file)
		}
		if _, err := helmCmd(t, args...); err != nil {
			t.Errorf("%s: %v", v.name, err)
		}
	}
}

// Every rendering is valid Kubernetes, strictly: a misspelt or misplaced
// field fails (see TestKubeconformRefusesMisspeltAndMistypedFields).
func TestHelmTemplatePassesKubeconformStrict(t *testing.T) {
	for _, v := range valuesSets {
		out, err := kubeconform(t, mustRender(t, v.file))
		if err != nil || !strings.Contains(out, "Invalid: 0, Errors: 0, Skipped: 0") {
			t.Errorf("%s: kubeconform -strict: %v\n%s", v.name, err, out)
		}
	}
}

// The schemas are strict: without that, the test above would pass on a
// misspelt field.
func TestKubeconformRefusesMisspeltAndMistypedFields(t *testing.T) {
	good := mustRender(t, "helm/testdata/all-on.yaml")
	if out, err := kubeconform(t, good); err != nil {
		t.Fatalf("the unchanged rendering fails: %v\n%s", err, out)
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"misspelt field", "\n  replicas: 2\n", "\n  replica: 2\n", "additional properties 'replica' not allowed"},
		{"wrong type", "terminationGracePeriodSeconds: 90", "terminationGracePeriodSeconds: ninety", "/spec/template/spec/terminationGracePeriodSeconds"},
		{"field at the wrong level", "      serviceAccountName: ferry-worker\n", "      serviceAccount:\n        name: ferry-worker\n", "/spec/template/spec/serviceAccount"},
		{"misspelt field in a custom resource", "      interval: 15s", "      intervall: 15s", "additional properties 'intervall' not allowed"},
	} {
		if !strings.Contains(good, c.old) {
			t.Fatalf("%s: the rendering has no %q to change", c.name, c.old)
		}
		out, err := kubeconform(t, strings.Replace(good, c.old, c.new, 1))
		if err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%s: kubeconform said %v\n%s\nwant a failure with %q", c.name, err, out, c.want)
		}
	}
}

// The chart refuses at rendering what could not work, naming the value.
func TestHelmTemplateRefusesWhatCannotWork(t *testing.T) {
	// The bridge's shutdown with the default config: preStop sleep, its
	// HTTP requests, the last long poll and the in-flight messages.
	bridgeBound := 5*time.Second + bridge.HTTPShutdownTimeout + 20*time.Second + 20*time.Second
	secs := func(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
	for _, c := range []struct {
		name string
		set  []string
		want string // "" renders
	}{
		{"misspelt value", []string{"worker.terminationGracePeriod=100"}, "at '/worker': additional properties 'terminationGracePeriod' not allowed"},
		{"metrics on loopback", []string{"config.metrics.worker_listen=127.0.0.1:9464"}, "config.metrics.worker_listen is \"127.0.0.1:9464\": in a pod it must listen on all interfaces"},
		{"bridge on loopback", []string{"config.bridge.listen=127.0.0.1:8085"}, "config.bridge.listen"},
		{"no metrics address", []string{"config.metrics.bridge_listen="}, "config.metrics.bridge_listen"},
		{"worker grace = stop_timeout", []string{"worker.terminationGracePeriodSeconds=60"}, "worker.terminationGracePeriodSeconds (60) must be longer than config.worker.stop_timeout (60s)"},
		{"worker grace > stop_timeout", []string{"worker.terminationGracePeriodSeconds=61"}, ""},
		{"worker grace = 1m30s", []string{"config.worker.stop_timeout=1m30s"}, "worker.terminationGracePeriodSeconds (90) must be longer than config.worker.stop_timeout (90s)"},
		{"worker grace > 1h", []string{"config.worker.stop_timeout=1h", "worker.terminationGracePeriodSeconds=3601"}, ""},
		{"worker stop_timeout not a duration", []string{"config.worker.stop_timeout=soon"}, `"soon" is not a duration`},
		{"bridge grace = its shutdown", []string{"bridge.terminationGracePeriodSeconds=" + secs(bridgeBound)}, "bridge.terminationGracePeriodSeconds (" + secs(bridgeBound) + ") must be longer"},
		{"bridge grace > its shutdown", []string{"bridge.terminationGracePeriodSeconds=" + secs(bridgeBound+time.Second)}, ""},
		{"bridge without credentials", []string{"bridge.auth.existingSecret="}, "bridge.auth.existingSecret"},
		{"webhook secret without its Secret", []string{"config.notify.webhooks[0].name=ops", "config.notify.webhooks[0].url=https://ops.example.com/", "config.notify.webhooks[0].secret_env=FERRY_OPS_WEBHOOK_SECRET"},
			"secrets.webhooks.existingSecret: config.notify.webhooks[0] (ops) names secret_env FERRY_OPS_WEBHOOK_SECRET"},
		{"client certificate without its key", []string{"temporal.tls.enabled=true", "temporal.tls.existingSecret=tls", "temporal.tls.keyKey="}, "temporal.tls.certKey and temporal.tls.keyKey go together"},
	} {
		_, err := render(t, "", c.set...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// A change of the config rolls the pods: their template carries the
// ConfigMap's checksum.
func TestAConfigChangeRollsThePods(t *testing.T) {
	annotation := func(out string) []string {
		var sums []string
		for _, d := range parse(t, out) {
			if d.Kind == "Deployment" {
				sums = append(sums, d.Spec.Template.Metadata.Annotations["checksum/config"])
			}
		}
		return sums
	}
	before := annotation(mustRender(t, ""))
	after := annotation(mustRender(t, "", "config.log.level=debug"))
	if len(before) != 2 || before[0] == "" || before[0] != before[1] {
		t.Fatalf("checksum/config of the Deployments: %q, want one checksum on both", before)
	}
	if after[0] == before[0] || after[1] == before[1] {
		t.Errorf("checksum/config did not change with the config: %q then %q", before, after)
	}
}

// The rendering agrees with the code it deploys, for every values set.
func TestHelmChartAgreesWithTheCode(t *testing.T) {
	rules, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range valuesSets {
		t.Run(v.name, func(t *testing.T) {
			docs := parse(t, mustRender(t, v.file))
			cm := one(t, docs, "ConfigMap", "")
			for _, component := range []string{"worker", "bridge"} {
				d := one(t, docs, "Deployment", "ferry-"+component)
				cfg := loadRenderedConfig(t, cm, d)
				checkPod(t, component, cfg, d, v.roles[component], docs)
			}
			checkServices(t, docs, rules)
		})
	}
}

// The file `ferry config from-terraform` renders from the Terraform
// example deploys as it is (--set-file configFile=...): not merged with the
// chart's example config, valid for kubeconform, and agreeing with the code.
func TestTheConfigRenderedFromTerraformDeploysAsItIs(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(file, renderedConfigFile(t), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := helmCmd(t, "template", "ferry", chartDir, "--namespace", "ferry", "--kube-version", kubeVersion, "--set-file", "configFile="+file)
	if err != nil {
		t.Fatal(err)
	}
	if report, err := kubeconform(t, out); err != nil || !strings.Contains(report, "Invalid: 0, Errors: 0, Skipped: 0") {
		t.Errorf("kubeconform -strict: %v\n%s", err, report)
	}
	docs := parse(t, out)
	cm := one(t, docs, "ConfigMap", "")
	if cm.Data["ferry.yaml"] != string(renderedConfigFile(t)) {
		t.Errorf("the ConfigMap's ferry.yaml is not the rendered file as it is:\n%s", cm.Data["ferry.yaml"])
	}
	rules, err := os.ReadFile(alertRulesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, component := range []string{"worker", "bridge"} {
		d := one(t, docs, "Deployment", "ferry-"+component)
		cfg := loadRenderedConfig(t, cm, d)
		if !slices.Equal(cfg.PartnerNames(), renderedConfig(t).PartnerNames()) || len(cfg.Notify.SNS) != len(renderedConfig(t).Notify.SNS) {
			t.Errorf("%s: partners %v and SNS targets %+v, want the rendered file's %v and %+v", component,
				cfg.PartnerNames(), cfg.Notify.SNS, renderedConfig(t).PartnerNames(), renderedConfig(t).Notify.SNS)
		}
		checkPod(t, component, cfg, d, "arn:aws:iam::123456789012:role/ferry-"+component, docs)
	}
	checkServices(t, docs, rules)

	notAMap := filepath.Join(t.TempDir(), "list.yaml")
	if err := os.WriteFile(notAMap, []byte("- acme\n- globex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = helmCmd(t, "template", "ferry", chartDir, "--kube-version", kubeVersion, "--set-file", "configFile="+notAMap)
	if err == nil || !strings.Contains(err.Error(), "configFile is not a YAML map") {
		t.Errorf("a configFile that is not a YAML map: %v", err)
	}
}

const alertRulesFile = "prometheus/rules/ferry-alerts.yml"

// checkPod checks one component's Deployment against the config it
// loads and the code.
func checkPod(t *testing.T, component string, cfg *config.Config, d doc, role string, docs []doc) {
	t.Helper()
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", component, len(pod.Containers))
	}
	c := pod.Containers[0]

	// The binaries deploy/docker/Dockerfile builds into /usr/local/bin.
	wantCmd := map[string][]string{"worker": {"/usr/local/bin/worker"}, "bridge": {"/usr/local/bin/ferry", "bridge"}}[component]
	if got := append(slices.Clone(c.Command), c.Args...); !slices.Equal(got[:len(wantCmd)], wantCmd) {
		t.Errorf("%s runs %q, want %q first", component, got, wantCmd)
	}
	dockerfile, err := os.ReadFile("docker/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if pkg := map[string]string{"worker": " ./worker ", "bridge": " ./starter/ferry "}[component]; !strings.Contains(string(dockerfile), pkg) ||
		!strings.Contains(string(dockerfile), "COPY --from=build /out/ /usr/local/bin/") {
		t.Errorf("deploy/docker/Dockerfile does not build%sinto /usr/local/bin/", pkg)
	}

	// One ops port, on all interfaces, where the config says the process
	// serves metrics and health; the probes ask it the paths the code serves.
	listen := map[string]string{"worker": cfg.Metrics.WorkerListen, "bridge": cfg.Metrics.BridgeListen}[component]
	host, port, err := net.SplitHostPort(listen)
	if err != nil || !slices.Contains([]string{"", "0.0.0.0", "::"}, host) {
		t.Errorf("%s: metrics listen %q: a pod must listen on all interfaces (%v)", component, listen, err)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if strconv.Itoa(ports["metrics"]) != port {
		t.Errorf("%s: container port metrics is %d, the config's %s port %s", component, ports["metrics"], listen, port)
	}
	if component == "bridge" {
		if _, p, _ := net.SplitHostPort(cfg.Bridge.Listen); strconv.Itoa(ports["http"]) != p {
			t.Errorf("bridge: container port http is %d, bridge.listen %q", ports["http"], cfg.Bridge.Listen)
		}
	}
	for name, pr := range map[string]*probe{health.ReadyPath: c.ReadinessProbe, health.LivePath: c.LivenessProbe} {
		if pr == nil || pr.HTTPGet.Path != name || (pr.HTTPGet.Port != "metrics" && pr.HTTPGet.Port != port) {
			t.Errorf("%s: the probe for %s is %+v, want GET %s on the metrics port", component, name, pr, name)
		}
	}

	// Kubernetes waits for the shutdown before it kills.
	grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	if component == "worker" && grace <= cfg.Worker.StopTimeout {
		t.Errorf("worker: terminationGracePeriodSeconds %s is not longer than worker.stop_timeout %s", grace, cfg.Worker.StopTimeout)
	}
	if component == "bridge" {
		bound := bridge.HTTPShutdownTimeout
		if cfg.Bridge.SQS.Queue != "" {
			bound += cfg.Bridge.SQS.WaitTime + cfg.Bridge.SQS.ShutdownGrace
		}
		if c.Lifecycle != nil {
			bound += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		if grace <= bound {
			t.Errorf("bridge: terminationGracePeriodSeconds %s is not longer than its preStop sleep and shutdown, %s", grace, bound)
		}
	}

	// Non-root, read-only, no capabilities.
	if !pod.SecurityContext.RunAsNonRoot || !c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.AllowPrivilegeEscalation == nil ||
		*c.SecurityContext.AllowPrivilegeEscalation || !slices.Equal(c.SecurityContext.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("%s: security contexts %+v %+v, want non-root, read-only root, no privilege escalation, all capabilities dropped", component, pod.SecurityContext, c.SecurityContext)
	}

	// Each component its own ServiceAccount, and so its own IAM role.
	if want := "ferry-" + component; pod.ServiceAccountName == "" || (role != "" && pod.ServiceAccountName != want) {
		t.Errorf("%s: serviceAccountName %q", component, pod.ServiceAccountName)
	}
	sa, found := find(docs, "ServiceAccount", pod.ServiceAccountName)
	switch {
	case role == "" && found && sa.Metadata.Annotations["eks.amazonaws.com/role-arn"] != "":
		t.Errorf("%s: ServiceAccount %s has role %q, want none", component, sa.Metadata.Name, sa.Metadata.Annotations["eks.amazonaws.com/role-arn"])
	case role != "" && (!found || sa.Metadata.Annotations["eks.amazonaws.com/role-arn"] != role):
		t.Errorf("%s: ServiceAccount %s (rendered: %v) has role %q, want %q", component, pod.ServiceAccountName, found, sa.Metadata.Annotations["eks.amazonaws.com/role-arn"], role)
	}

	// Temporal's TLS files, as Ferry reads them from the pod's
	// environment, are where the Secret is mounted; an API key Secret
	// reaches the config.
	tls := cfg.Temporal.TLS
	for field, path := range map[string]string{"temporal.tls.ca_file": tls.CAFile, "temporal.tls.cert_file": tls.CertFile, "temporal.tls.key_file": tls.KeyFile} {
		if path != "" && !mounted(t, pod, c, path) {
			t.Errorf("%s: %s=%s, which no Secret item is mounted at", component, field, path)
		}
	}
	read := map[string]string{
		"FERRY_TEMPORAL_TLS_CA_FILE": tls.CAFile, "FERRY_TEMPORAL_TLS_CERT_FILE": tls.CertFile,
		"FERRY_TEMPORAL_TLS_KEY_FILE": tls.KeyFile, "FERRY_TEMPORAL_TLS_SERVER_NAME": tls.ServerName,
	}
	secured := false
	for _, e := range c.Env {
		secured = secured || strings.HasPrefix(e.Name, "FERRY_TEMPORAL_")
		if got, known := read[e.Name]; strings.HasPrefix(e.Name, "FERRY_TEMPORAL_") && e.ValueFrom == nil && (!known && e.Name != "FERRY_TEMPORAL_TLS_ENABLED" || known && got != e.Value) {
			t.Errorf("%s: %s=%s is not what Ferry's config reads (%q)", component, e.Name, e.Value, got)
		}
		if e.Name == config.APIKeyEnv && cfg.Temporal.APIKey == "" {
			t.Errorf("%s: %s comes from a Secret, yet the loaded config has no API key", component, e.Name)
		}
	}
	if secured && !cfg.Temporal.On() {
		t.Errorf("%s: Temporal TLS or an API key is set, yet the loaded config does not use TLS", component)
	}
}

// checkServices checks that the Services reach the pods' ports and that
// Prometheus's jobs get the names the alert rules select on.
func checkServices(t *testing.T, docs []doc, rules []byte) {
	t.Helper()
	jobs := map[string]doc{}
	for _, component := range []string{"worker", "bridge"} {
		svc := one(t, docs, "Service", "ferry-"+component)
		d := one(t, docs, "Deployment", "ferry-"+component)
		for k, v := range svc.Spec.ServiceSelector() {
			if d.Spec.Template.Metadata.Labels[k] != v {
				t.Errorf("Service %s selects %s=%s, which the pods of %s do not carry", svc.Metadata.Name, k, v, d.Metadata.Name)
			}
		}
		names := map[string]bool{}
		for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
			names[p.Name] = true
		}
		for _, p := range svc.Spec.Ports {
			if !names[p.TargetPort] {
				t.Errorf("Service %s targets port %q, which %s does not name", svc.Metadata.Name, p.TargetPort, d.Metadata.Name)
			}
		}
		job := svc.Metadata.Labels["ferry.io/prometheus-job"]
		if !bytes.Contains(rules, []byte(`job="`+job+`"`)) {
			t.Errorf("Service %s is scraped as job %q, which %s does not select", svc.Metadata.Name, job, alertRulesFile)
		}
		jobs[job] = svc
	}
	if len(jobs) != 2 {
		t.Errorf("the Services give jobs %v, want two", jobs)
	}
	sm, ok := find(docs, "ServiceMonitor", "")
	if !ok {
		return
	}
	if sm.Spec.JobLabel != "ferry.io/prometheus-job" {
		t.Errorf("ServiceMonitor jobLabel %q, want ferry.io/prometheus-job (the Services' job names)", sm.Spec.JobLabel)
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != metrics.Path {
		t.Errorf("ServiceMonitor endpoints %+v, want port metrics, path %s", sm.Spec.Endpoints, metrics.Path)
	}
	for job, svc := range jobs {
		for k, v := range sm.Spec.MonitorSelector().MatchLabels {
			if svc.Metadata.Labels[k] != v {
				t.Errorf("the ServiceMonitor does not select Service %s (job %s): %s=%s", svc.Metadata.Name, job, k, v)
			}
		}
	}
}

// loadRenderedConfig loads the ConfigMap's ferry.yaml with the
// Deployment's environment (a Secret's value stands in for each
// secretKeyRef), as the process does at start: a config the code refuses,
// or a secret the config needs and the pod lacks, fails here.
func loadRenderedConfig(t *testing.T, cm, d doc) *config.Config {
	t.Helper()
	c := d.Spec.Template.Spec.Containers[0]
	file := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(file, []byte(cm.Data["ferry.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	// The config file is the one mounted where --config points.
	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) || !mounted(t, d.Spec.Template.Spec, c, c.Args[i+1]) {
		t.Errorf("%s: --config in %q is not the mounted ConfigMap's ferry.yaml", d.Metadata.Name, c.Args)
	}
	// Only the pod's environment: none of this process's.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "FERRY_") {
			t.Setenv(k, "")
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name != "" && e.ValueFrom.SecretKeyRef.Key != "":
			t.Setenv(e.Name, "from-secret-"+e.ValueFrom.SecretKeyRef.Name)
		case e.ValueFrom != nil:
			t.Errorf("%s: %s refers to %+v, not a Secret's key", d.Metadata.Name, e.Name, e.ValueFrom)
		default:
			t.Setenv(e.Name, e.Value)
		}
	}
	t.Setenv("FERRY_CONFIG", file)
	cfg, err := config.Load(nil)
	if err != nil {
		t.Fatalf("%s: the rendered config does not load with the pod's environment: %v", d.Metadata.Name, err)
	}
	if strings.HasSuffix(d.Metadata.Name, "-bridge") && cfg.Bridge.AuthToken == "" && cfg.Bridge.HMACSecret == "" {
		t.Errorf("%s: no bridge.auth_token or hmac_secret in the pod's environment: the bridge would not start", d.Metadata.Name)
	}
	return cfg
}

// mounted says whether file is an item of a volume the container mounts.
func mounted(t *testing.T, pod podSpec, c container, file string) bool {
	t.Helper()
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(file, m.MountPath+"/")
		if !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.Projected == nil {
				continue
			}
			for _, s := range v.Projected.Sources {
				for _, src := range []*projection{s.ConfigMap, s.Secret} {
					if src == nil {
						continue
					}
					for _, it := range src.Items {
						if path.Clean(it.Path) == rel {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

// The parts of the rendered objects the checks read.
type (
	doc struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name        string            `yaml:"name"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec objSpec           `yaml:"spec"`
	}
	objSpec struct {
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		Selector yaml.Node `yaml:"selector"` // a Service's map, a ServiceMonitor's label selector
		Ports    []struct {
			Name       string `yaml:"name"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		JobLabel  string `yaml:"jobLabel"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
	}
	podSpec struct {
		ServiceAccountName            string `yaml:"serviceAccountName"`
		TerminationGracePeriodSeconds int    `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               struct {
			RunAsNonRoot bool `yaml:"runAsNonRoot"`
		} `yaml:"securityContext"`
		Containers []container `yaml:"containers"`
		Volumes    []struct {
			Name      string `yaml:"name"`
			Projected *struct {
				Sources []struct {
					ConfigMap *projection `yaml:"configMap"`
					Secret    *projection `yaml:"secret"`
				} `yaml:"sources"`
			} `yaml:"projected"`
		} `yaml:"volumes"`
	}
	container struct {
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				SecretKeyRef struct {
					Name string `yaml:"name"`
					Key  string `yaml:"key"`
				} `yaml:"secretKeyRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		ReadinessProbe *probe `yaml:"readinessProbe"`
		LivenessProbe  *probe `yaml:"livenessProbe"`
		Lifecycle      *struct {
			PreStop struct {
				Sleep struct {
					Seconds int `yaml:"seconds"`
				} `yaml:"sleep"`
			} `yaml:"preStop"`
		} `yaml:"lifecycle"`
		SecurityContext struct {
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	projection struct {
		Name  string `yaml:"name"`
		Items []struct {
			Key  string `yaml:"key"`
			Path string `yaml:"path"`
		} `yaml:"items"`
	}
)

// ServiceSelector is a Service's selector.
func (s objSpec) ServiceSelector() map[string]string {
	var m map[string]string
	_ = s.Selector.Decode(&m)
	return m
}

// MonitorSelector is a ServiceMonitor's (or any) label selector.
func (s objSpec) MonitorSelector() (sel struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}) {
	_ = s.Selector.Decode(&sel)
	return sel
}

// parse splits helm template's output into its objects.
func parse(t *testing.T, manifests string) []doc {
	t.Helper()
	var docs []doc
	dec := yaml.NewDecoder(strings.NewReader(manifests))
	for {
		var d doc
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("reading helm template's output: %v", err)
		}
		if d.Kind != "" {
			docs = append(docs, d)
		}
	}
}

// find returns the object of kind named name ("" any).
func find(docs []doc, kind, name string) (doc, bool) {
	for _, d := range docs {
		if d.Kind == kind && (name == "" || d.Metadata.Name == name) {
			return d, true
		}
	}
	return doc{}, false
}

func one(t *testing.T, docs []doc, kind, name string) doc {
	t.Helper()
	d, ok := find(docs, kind, name)
	if !ok {
		t.Fatalf("no %s %s in the rendering", kind, name)
	}
	return d
}
