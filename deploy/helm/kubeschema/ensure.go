package kubeschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// The sources of the schemas, pinned: the Kubernetes release whose API
// the chart is validated against, and the prometheus-operator release
// whose ServiceMonitor CRD it renders. Both come from the Go module proxy
// (go mod download), never into Ferry's go.mod.
const (
	KubernetesVersion        = "v1.37.2"
	KubernetesModule         = "k8s.io/kubernetes@" + KubernetesVersion
	PrometheusOperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

	swaggerPath       = "api/openapi-spec/swagger.json"
	serviceMonitorCRD = "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"

	// format changes whenever this package writes different schemas, so
	// a cache written by an older version is written again.
	format = "1"
)

// Ensure returns a folder of schemas for KubernetesModule's kinds and the
// ServiceMonitor, under cacheRoot/kubeconform-schemas/<Kubernetes
// version>/, generating it first when it is missing or was written from
// other sources. One process at a time generates (a lock file), so
// parallel test binaries and clones may call it.
func Ensure(cacheRoot string) (string, error) {
	root := filepath.Join(cacheRoot, "kubeconform-schemas")
	dir := filepath.Join(root, KubernetesVersion)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("creating the schema cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("locking the schema cache: %w", err)
	}
	defer lock.Close() // and so unlocks
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("locking the schema cache: %w", err)
	}

	stampFile := filepath.Join(dir, ".sources")
	stamp := strings.Join([]string{KubernetesModule, PrometheusOperatorModule, "format " + format}, "\n") + "\n"
	if b, err := os.ReadFile(stampFile); err == nil && string(b) == stamp {
		return dir, nil
	}

	k8s, err := download(KubernetesModule)
	if err != nil {
		return "", err
	}
	promOp, err := download(PrometheusOperatorModule)
	if err != nil {
		return "", err
	}
	spec, err := os.ReadFile(filepath.Join(k8s, swaggerPath))
	if err != nil {
		return "", fmt.Errorf("reading Kubernetes' OpenAPI spec in %s: %w", KubernetesModule, err)
	}
	crd, err := os.ReadFile(filepath.Join(promOp, serviceMonitorCRD))
	if err != nil {
		return "", fmt.Errorf("reading the ServiceMonitor CRD in %s: %w", PrometheusOperatorModule, err)
	}
	tmp, err := os.MkdirTemp(root, KubernetesVersion+".tmp-")
	if err != nil {
		return "", fmt.Errorf("creating the schema cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := FromOpenAPI(spec, tmp); err != nil {
		return "", fmt.Errorf("%s: %w", KubernetesModule, err)
	}
	if _, err := FromCRDs(crd, tmp); err != nil {
		return "", fmt.Errorf("%s: %w", PrometheusOperatorModule, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".sources"), []byte(stamp), 0o644); err != nil {
		return "", fmt.Errorf("writing the schema cache: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("replacing the old schemas in %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", fmt.Errorf("writing the schema cache: %w", err)
	}
	return dir, nil
}

// download fetches module@version into the module cache with go mod
// download, run outside any module so that Ferry's go.mod is untouched,
// and returns its folder.
func download(module string) (string, error) {
	work, err := os.MkdirTemp("", "kubeschema-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = work
	// A caller's -mod=vendor or go.work must not apply here.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out struct{ Dir, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || out.Error != "" || runErr != nil || out.Dir == "" {
		return "", fmt.Errorf("go mod download %s (it needs the Go module proxy): %w", module,
			errors.Join(runErr, errors.New(strings.TrimSpace(out.Error+" "+stderr.String()))))
	}
	return out.Dir, nil
}
