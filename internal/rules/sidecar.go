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
		sum, name, _ := strings.Cut(line, " ")
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		if len(sum) != 64 {
			return "", fmt.Errorf("sidecar line %q does not start with a 64-digit SHA-256: write it with `sha256sum %s > %s%s`", line, fileName, fileName, SidecarSuffix)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return "", fmt.Errorf("sidecar hash %q is not hexadecimal", sum)
		}
		if name != "" && path.Base(name) != fileName {
			return "", fmt.Errorf("sidecar names %q, not %q: it vouches for another file", path.Base(name), fileName)
		}
		return strings.ToLower(sum), nil
	}
	return "", fmt.Errorf("sidecar is empty: write it with `sha256sum %s > %s%s`", fileName, fileName, SidecarSuffix)
}
