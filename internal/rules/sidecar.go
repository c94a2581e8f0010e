package rules

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"path"
	"strings"
	"time"
)

// SidecarSuffix ends the name of a partner's checksum file: orders.csv is
// vouched for by orders.csv.sha256.
const SidecarSuffix = ".sha256"

// Sidecar is a partner's demand for checksum files.
type Sidecar struct {
	// Required makes every file wait for its <name>.sha256 (sha256sum
	// format) and match it.
	Required bool `mapstructure:"required" json:"required,omitempty"`
	// Timeout is how long a file waits for its sidecar.
	Timeout time.Duration `mapstructure:"timeout" json:"timeout,omitempty"`
}

// ParseSidecar reads a sha256sum line ("<64 hex>  <name>" or "<64 hex>
// *<name>", or the hash alone) and returns the hash in lower case. When the
// line names a file it must be fileName.
func ParseSidecar(body []byte, fileName string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, name, err := ParseSHA256SumLine(line)
		if err != nil {
			return "", fmt.Errorf("sidecar %w: write it with `sha256sum %s > %s%s`", err, fileName, fileName, SidecarSuffix)
		}
		if name != "" && path.Base(name) != fileName {
			return "", fmt.Errorf("sidecar names %q, not %q: it vouches for another file", path.Base(name), fileName)
		}
		return sum, nil
	}
	return "", fmt.Errorf("sidecar is empty: write it with `sha256sum %s > %s%s`", fileName, fileName, SidecarSuffix)
}

// ParseSHA256SumLine reads one line of `sha256sum` output ("<64 hex>
// <name>", "<64 hex> *<name>" in binary mode, or the hash alone): the
// hash in lower case and the name as written ("" when there is none).
// Sidecars and batch manifests (internal/batch) both read this format.
func ParseSHA256SumLine(line string) (sum, name string, err error) {
	line = strings.TrimSpace(line)
	sum, name, _ = strings.Cut(line, " ")
	name = strings.TrimPrefix(strings.TrimSpace(name), "*")
	if len(sum) != 64 {
		return "", "", fmt.Errorf("line %q does not start with a 64-digit SHA-256", line)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", "", fmt.Errorf("hash %q is not hexadecimal", sum)
	}
	return strings.ToLower(sum), name, nil
}
