package stacktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startLocal brings the local stack up with deploy/local/stack.sh (which
// starts only what is not running) and connects to it. Main stops it again
// unless every process of it ran before.
func startLocal() (*Stack, error) {
	root, tl, err := install()
	if err != nil {
		return nil, err
	}
	_, notRunning := stackSh(root, "status")
	if out, err := stackSh(root, "up"); err != nil {
		return nil, fmt.Errorf("deploy/local/stack.sh up: %w\n%s", err, out)
	}
	run.startedLocal = notRunning != nil
	home := os.Getenv("FERRY_HOME")
	if home == "" {
		home = filepath.Join(root, ".ferry")
	}
	env, err := readEnv(filepath.Join(home, "stack.env"))
	if err != nil {
		return nil, err
	}
	return connect(root, env, tl, true)
}

func stackSh(root string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(root, "deploy/local/stack.sh"), args...)
	cmd.Dir = root
	return cmd.CombinedOutput()
}

// Process is one of the local stack's processes a test may stop.
type Process string

const (
	Worker Process = "worker" // Ferry's worker
	Bridge Process = "bridge" // Ferry's bridge (ferry bridge)
)

// Up starts every process of the local stack that is not running, as
// deploy/local/stack.sh up does.
func (s *Stack) Up(t testing.TB) {
	t.Helper()
	s.mustBeLocal(t, "Up")
	if out, err := stackSh(s.Root, "up"); err != nil {
		t.Fatalf("deploy/local/stack.sh up: %v\n%s", err, out)
	}
}

// PID is the process ID of one of the local stack's processes.
func (s *Stack) PID(t testing.TB, p Process) int {
	t.Helper()
	s.mustBeLocal(t, "PID")
	out, err := stackSh(s.Root, "pid", string(p))
	if err != nil {
		t.Fatalf("deploy/local/stack.sh pid %s: %v\n%s", p, err, out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("deploy/local/stack.sh pid %s answered %q", p, out)
	}
	return pid
}

// Kill kills p with SIGKILL, as a crash would, and waits until it is gone.
// Up starts it again; the test's cleanup does at the latest, so the tests
// after it find the whole stack.
func (s *Stack) Kill(t testing.TB, p Process) {
	t.Helper()
	s.signal(t, p, syscall.SIGKILL, 10*time.Second)
}

// Stop sends p SIGTERM, as an orchestrator stops it, and fails the test
// unless it exits within 30 s. Up starts it again; the test's cleanup does
// at the latest.
func (s *Stack) Stop(t testing.TB, p Process) {
	t.Helper()
	s.signal(t, p, syscall.SIGTERM, 30*time.Second)
}

func (s *Stack) signal(t testing.TB, p Process, sig syscall.Signal, within time.Duration) {
	t.Helper()
	pid := s.PID(t, p)
	t.Cleanup(func() { s.Up(t) })
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("sending %s to %s (pid %d): %v", sig, p, pid, err)
	}
	Eventually(t, within, func() (bool, string) {
		return !alive(pid), fmt.Sprintf("%s (pid %d) still runs after %s", p, pid, sig)
	})
}

// alive says whether pid runs: a zombie waiting to be reaped does not.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return after != "" && after[0] != 'Z' && after[0] != 'X'
}

func (s *Stack) mustBeLocal(t testing.TB, what string) {
	t.Helper()
	if !s.local {
		t.Fatalf("stacktest: %s is about the local stack's processes: declare stacktest.Ferry", what)
	}
}
