package stacktest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferrydata/ferry/internal/clamd"
)

// ClamdMaxStreamBytes is the test clamd's StreamMaxLength (and MaxFileSize
// and MaxScanSize): small enough that a test passes it cheaply, above the
// objects the other tests inspect. FERRY_SCANNER_MAX_STREAM_BYTES is set
// to it. The local stack's clamd takes 100 MiB (deploy/local/stack.sh).
const ClamdMaxStreamBytes = 64 << 20

// ClamdAddress is clamd's TCP address, tcp://host:port, as
// FERRY_SCANNER_CLAMD gives it to Ferry.
func (s *Stack) ClamdAddress() string { return s.Env["FERRY_SCANNER_CLAMD"] }

// ClamdSocketAddress is the unix socket the same clamd listens on,
// unix:///path.
func (s *Stack) ClamdSocketAddress() string {
	if s.local {
		home := os.Getenv("FERRY_HOME")
		if home == "" {
			home = filepath.Join(s.Root, ".ferry")
		}
		return "unix://" + filepath.Join(home, "data/clamd/clamd.sock")
	}
	return "unix://" + filepath.Join(run.own.dir, "clamd", "clamd.sock")
}

// clamdConf renders deploy/local/clamav/clamd.conf.in, the local stack's
// template, for a clamd keeping its runtime files in dir.
func clamdConf(root, dir, addr string, maxBytes int64) (string, error) {
	tmpl, err := os.ReadFile(filepath.Join(root, "deploy/local/clamav/clamd.conf.in"))
	if err != nil {
		return "", fmt.Errorf("reading clamd's config template: %w", err)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	conf := strings.NewReplacer(
		"@DB@", filepath.Join(root, "deploy/local/clamav/db"),
		"@DIR@", dir,
		"@ADDR@", host,
		"@PORT@", port,
		"@MAX@", strconv.FormatInt(maxBytes, 10),
	).Replace(string(tmpl))
	if left := regexp.MustCompile(`@[A-Z]+@`).FindString(conf); left != "" {
		return "", fmt.Errorf("deploy/local/clamav/clamd.conf.in has a placeholder stacktest does not fill: %s", left)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "clamd.conf")
	return path, os.WriteFile(path, []byte(conf), 0o600)
}

// clamdReady: clamd answers PING.
func clamdReady(address string) error {
	c, err := clamd.New(address, 2*time.Second)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Ping(ctx)
}
