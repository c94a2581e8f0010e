// Package deploy holds no code: this test keeps docker-compose.yml, which
// cannot run on machines without a Docker engine, consistent by reading it
// against Ferry's config, the bridge and the local stack's pinned versions.
package deploy

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/config"
)

type compose struct {
	Services map[string]struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Entrypoint  any               `yaml:"entrypoint"` // a string or a list, as compose allows
		Command     any               `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   any               `yaml:"depends_on"`
	} `yaml:"services"`
}

func load(t *testing.T) (*compose, *config.Config) {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	t.Setenv("FERRY_CONFIG", "docker/ferry.yaml")
	// Secrets come from compose's environment; the test checks below that
	// the worker and the sink get the same.
	t.Setenv("FERRY_WEBHOOK_SECRET", "test")
	cfg, err := config.Load(nil)
	if err != nil {
		t.Fatalf("the compose config is invalid: %v", err)
	}
	return &c, cfg
}

func TestComposeProvidesEveryServiceTheConfigNames(t *testing.T) {
	c, cfg := load(t)
	service := func(what, hostport string) {
		t.Helper()
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			t.Errorf("%s: %q is not host:port", what, hostport)
			return
		}
		if _, ok := c.Services[host]; !ok {
			t.Errorf("%s names %q, which is not a service in docker-compose.yml", what, host)
		}
	}
	service("temporal.address", cfg.Temporal.Address)
	service("scanner.clamd", strings.TrimPrefix(cfg.Scanner.Clamd, "tcp://"))
	for _, w := range cfg.Notify.Webhooks {
		u, _ := url.Parse(w.URL)
		service("notify webhook "+w.Name, u.Host)
		if w.SecretEnv == "" {
			continue
		}
		host, _, _ := net.SplitHostPort(u.Host)
		worker, sink := c.Services["worker"].Environment[w.SecretEnv], c.Services[host].Environment[w.SecretEnv]
		if worker == "" || worker != sink {
			t.Errorf("webhook %s: the worker's %s is %q, its receiver %s's %q: they must sign and verify with one secret", w.Name, w.SecretEnv, worker, host, sink)
		}
	}
	for _, name := range []string{"worker", "bridge", "provision"} {
		env := c.Services[name].Environment
		for _, k := range []string{"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS"} {
			u, err := url.Parse(env[k])
			if err != nil || u.Host == "" {
				t.Errorf("service %s: %s=%q", name, k, env[k])
				continue
			}
			service(name+" "+k, u.Host)
		}
		if env["FERRY_CONFIG"] != "/etc/ferry/ferry.yaml" {
			t.Errorf("service %s reads config %q", name, env["FERRY_CONFIG"])
		}
	}
}

func TestMinIONotifiesTheBridgeWithItsToken(t *testing.T) {
	c, cfg := load(t)
	minio := c.Services["minio"].Environment
	_, port, _ := net.SplitHostPort(cfg.Bridge.Listen)
	if want := "http://bridge:" + port + bridge.EventsPath; minio["MINIO_NOTIFY_WEBHOOK_ENDPOINT_FERRY"] != want {
		t.Errorf("MinIO notifies %q, want %q", minio["MINIO_NOTIFY_WEBHOOK_ENDPOINT_FERRY"], want)
	}
	if minio["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_FERRY"] != c.Services["bridge"].Environment["FERRY_BRIDGE_AUTH_TOKEN"] {
		t.Error("MinIO's webhook token and the bridge's FERRY_BRIDGE_AUTH_TOKEN differ")
	}
	if minio["MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_FERRY"] == "" {
		t.Error("MinIO has no queue dir: events would be lost while the bridge is down")
	}
}

func TestComposePublishesTheMetricsPorts(t *testing.T) {
	c, cfg := load(t)
	for service, addr := range map[string]string{"worker": cfg.Metrics.WorkerListen, "bridge": cfg.Metrics.BridgeListen} {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Errorf("%s serves no metrics: %q", service, addr)
			continue
		}
		if !slices.Contains(c.Services[service].Ports, port+":"+port) {
			t.Errorf("service %s does not publish its metrics port %s: %v", service, port, c.Services[service].Ports)
		}
	}
}

func TestComposeFilesExist(t *testing.T) {
	c, _ := load(t)
	for name, s := range c.Services {
		if s.Build == nil && s.Image == "" {
			t.Errorf("service %s has neither build nor image", name)
		}
		if s.Build != nil {
			if _, err := os.Stat(filepath.Join("..", s.Build.Context, s.Build.Dockerfile)); err != nil {
				t.Errorf("service %s builds from a missing Dockerfile: %v", name, err)
			}
		}
		for _, v := range s.Volumes {
			if src, _, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join("..", src)); err != nil {
					t.Errorf("service %s mounts missing %s", name, src)
				}
			}
		}
	}
}

// The compose stack and the process stack must run the same versions.
func TestPinnedVersionsAgreeWithTheLocalStack(t *testing.T) {
	stack, err := os.ReadFile("local/install.sh")
	if err != nil {
		t.Fatal(err)
	}
	tools, err := os.ReadFile("docker/Dockerfile.tools")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"MINIO_VERSION", "TEMPORAL_CLI_VERSION", "GOAWS_VERSION"} {
		inStack := regexp.MustCompile(`(?m)^` + v + `=(\S+)$`).FindSubmatch(stack)
		inTools := regexp.MustCompile(`(?m)^ARG ` + v + `=(\S+)$`).FindSubmatch(tools)
		if inStack == nil || inTools == nil || string(inStack[1]) != string(inTools[1]) {
			t.Errorf("%s: install.sh has %q, Dockerfile.tools has %q", v, inStack, inTools)
		}
	}
}

// Prometheus and Alertmanager run the versions of Debian's packages the
// local stack installs.
func TestMonitoringImagesAgreeWithTheLocalStack(t *testing.T) {
	c, _ := load(t)
	stack, err := os.ReadFile("local/install.sh")
	if err != nil {
		t.Fatal(err)
	}
	for service, v := range map[string]string{"prometheus": "PROMETHEUS_DEB", "alertmanager": "ALERTMANAGER_DEB"} {
		deb := regexp.MustCompile(`(?m)^` + v + `=(\d+\.\d+\.\d+)`).FindSubmatch(stack)
		if deb == nil {
			t.Fatalf("install.sh pins no %s", v)
		}
		if image := c.Services[service].Image; !strings.HasSuffix(image, ":v"+string(deb[1])) {
			t.Errorf("service %s runs %s, the local stack %s", service, image, deb[1])
		}
	}
}

// Prometheus scrapes the worker's and the bridge's metrics ports under the
// job names the alert rules select on, and Alertmanager reaches the sink.
func TestComposePrometheusScrapesTheWorkerAndTheBridge(t *testing.T) {
	c, cfg := load(t)
	b, err := os.ReadFile("docker/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatal(err)
	}
	for job, want := range map[string]string{"ferry-worker": "worker" + port(cfg.Metrics.WorkerListen), "ferry-bridge": "bridge" + port(cfg.Metrics.BridgeListen)} {
		found := false
		for _, sc := range prom.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				found = found || (sc.JobName == job && slices.Contains(st.Targets, want))
			}
		}
		if !found {
			t.Errorf("deploy/docker/prometheus.yml has no job %s scraping %s", job, want)
		}
	}
	am, err := os.ReadFile("docker/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`url: http://([\w-]+):`).FindAllSubmatch(am, -1) {
		if _, ok := c.Services[string(m[1])]; !ok {
			t.Errorf("deploy/docker/alertmanager.yml sends to %s, not a compose service", m[1])
		}
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return ":" + p
}

func TestComposePartnersMatchTheLocalStack(t *testing.T) {
	_, composeCfg := load(t)
	t.Setenv("FERRY_CONFIG", "local/ferry.yaml")
	t.Setenv("FERRY_WEBHOOK_SECRET", "test") // the local stack's webhook secret_env
	localCfg, err := config.Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Key files live where each deployment keeps its secrets.
	for _, c := range []*config.Config{composeCfg, localCfg} {
		for name, p := range c.Partners {
			p.PGP.PrivateKeyFile, p.PGP.PassphraseFile, p.PGP.SignerKeyFiles = "", "", nil
			c.Partners[name] = p
		}
	}
	if !reflect.DeepEqual(composeCfg.Partners, localCfg.Partners) {
		t.Errorf("partners differ between deploy/docker/ferry.yaml and deploy/local/ferry.yaml:\n%+v\n%+v", composeCfg.Partners, localCfg.Partners)
	}
}

// words is a compose command or entrypoint as its words (a string is split
// at white space, which is enough for the shell lines here).
func words(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		var w []string
		for _, x := range v {
			w = append(w, strings.Fields(fmt.Sprint(x))...)
		}
		return w
	}
	return nil
}

// flagValue is the word after name in args ("" when absent).
func flagValue(args []string, name string) string {
	if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// mountedAt is the source (a named volume or a path) a service mounts at
// target.
func mountedAt(volumes []string, target string) string {
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == target {
			return parts[0]
		}
	}
	return ""
}

// Partners log in to compose's MinIO as to the local stack's: with a key
// the stack's user CA certified for their name, never with a password.
func TestComposeSFTPTakesCertifiedKeysAsTheLocalStackDoes(t *testing.T) {
	c, _ := load(t)
	stack, err := os.ReadFile("local/stack.sh")
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]string{}
	for _, m := range regexp.MustCompile(`--sftp="([\w-]+)=([^"]*)"`).FindAllStringSubmatch(string(stack), -1) {
		local[m[1]] = m[2]
	}
	compose := map[string]string{}
	for _, w := range words(c.Services["minio"].Command) {
		if k, v, ok := strings.Cut(strings.TrimPrefix(w, "--sftp="), "="); ok && strings.HasPrefix(w, "--sftp=") {
			compose[k] = strings.Trim(v, `"`)
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(local)), slices.Sorted(maps.Keys(compose))) {
		t.Errorf("MinIO's --sftp settings: the local stack sets %v, compose %v", slices.Sorted(maps.Keys(local)), slices.Sorted(maps.Keys(compose)))
	}
	for what, flags := range map[string]map[string]string{"deploy/local/stack.sh": local, "docker-compose.yml": compose} {
		if flags["disable-password-auth"] != "true" || flags["trusted-user-ca-key"] == "" {
			t.Errorf("%s: MinIO's SFTP must trust the user CA and refuse passwords, got %v", what, flags)
		}
	}

	// The CA MinIO trusts is the one the sftp-keys service makes, in the
	// folder the provisioner keeps too, before MinIO starts.
	keys := words(c.Services["sftp-keys"].Entrypoint)
	dir := flagValue(keys, "--sftp-keys-dir")
	volume := mountedAt(c.Services["sftp-keys"].Volumes, dir)
	if !slices.Contains(keys, "--sftp-keys-only") || dir == "" || volume == "" || strings.HasPrefix(volume, ".") {
		t.Fatalf("service sftp-keys must run provision --sftp-keys-only --sftp-keys-dir DIR with a named volume at DIR: %v, volumes %v", keys, c.Services["sftp-keys"].Volumes)
	}
	minioDir := ""
	for _, v := range c.Services["minio"].Volumes {
		if parts := strings.Split(v, ":"); parts[0] == volume && len(parts) >= 2 {
			minioDir = parts[1]
		}
	}
	// user_ca.pub: the CA's public key in that folder (deploy/local/provision/sftpkeys.go).
	if want := minioDir + "/user_ca.pub"; minioDir == "" || compose["trusted-user-ca-key"] != want {
		t.Errorf("MinIO trusts %q, but the sftp-keys service's CA is %q (volume %s)", compose["trusted-user-ca-key"], want, volume)
	}
	provision := words(c.Services["provision"].Entrypoint)
	if d := flagValue(provision, "--sftp-keys-dir"); d == "" || mountedAt(c.Services["provision"].Volumes, d) != volume {
		t.Errorf("provision keeps the SFTP keys in %q, not in volume %s: %v", d, volume, c.Services["provision"].Volumes)
	}
	deps, _ := c.Services["minio"].DependsOn.(map[string]any)
	if dep, _ := deps["sftp-keys"].(map[string]any); dep["condition"] != "service_completed_successfully" {
		t.Errorf("MinIO must start after sftp-keys completes (it reads the CA at start): depends_on %v", c.Services["minio"].DependsOn)
	}
}

// Ferry's config refuses to load when a variable a webhook's secret_env
// names is unset, so every process that reads it must be given it.
func TestComposeServicesReadingTheConfigGetItsSecrets(t *testing.T) {
	c, cfg := load(t)
	for name, s := range c.Services {
		if s.Environment["FERRY_CONFIG"] == "" {
			continue
		}
		for _, w := range cfg.Notify.Webhooks {
			if w.SecretEnv != "" && s.Environment[w.SecretEnv] == "" {
				t.Errorf("service %s reads the config but has no %s (webhook %s's secret_env): it would not start", name, w.SecretEnv, w.Name)
			}
		}
	}
}
