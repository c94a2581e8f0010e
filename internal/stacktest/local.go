package stacktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startLocal brings the local stack up with deploy/local/stack.sh (which
// starts only what is not running) and connects to it. Main stops it again
// unless every process of it ran before.
func startLocal() (*Stack, error) {
	// The local stack is MinIO's (its SFTP server and webhook are part of
	// it): a run that asked for another S3 must not pass on MinIO.
	if s3, err := selectedS3(); err != nil {
		return nil, err
	} else if s3 != MinIO {
		return nil, fmt.Errorf("%s=%s selects the S3 of a test binary's own services; the local stack (stacktest.Ferry) runs MinIO: unset %s for this package", S3ServerEnv, s3, S3ServerEnv)
	}
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

// Process is one of the local stack's processes a test may stop (its name
// in deploy/local/stack.sh's PROCS). clamd is also the test binary's own
// (service Clamd).
type Process string

const (
	Worker       Process = "worker" // Ferry's worker
	Bridge       Process = "bridge" // Ferry's bridge (ferry bridge)
	ClamdProcess Process = "clamd"  // ClamAV's clamd
	// The servers Ferry depends on. Each keeps its data where stack.sh
	// put it (Temporal's SQLite file, MinIO's folder and event queue,
	// dynalite's folder), so Up after Stop or Kill brings back the same
	// state, as a restarted server or a failed-over one would.
	TemporalProcess    Process = "temporal"    // Temporal's dev server
	MinIOProcess       Process = "minio"       // S3, SFTP and the landing bucket's webhook
	DynamoDBProcess    Process = "dynalite"    // DynamoDB
	WebhookSinkProcess Process = "webhooksink" // the notification webhook's receiver
)

// Up starts every process of the local stack that is not running, as
// deploy/local/stack.sh up does: a process that was stopped comes back,
// and the running ones are left alone (they must reconnect by themselves).
func (s *Stack) Up(t testing.TB) {
	t.Helper()
	s.mustBeLocal(t, "Up")
	if out, err := stackSh(s.Root, "up"); err != nil {
		t.Fatalf("deploy/local/stack.sh up: %v\n%s", err, out)
	}
}

// PID is the process ID of one of the local stack's processes, or of the
// binary's own clamd.
func (s *Stack) PID(t testing.TB, p Process) int {
	t.Helper()
	if !s.local {
		return s.ownPID(t, p)
	}
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
// Up (Start, for clamd) starts it again; the test's cleanup does at the
// latest, so the tests after it find the whole stack.
func (s *Stack) Kill(t testing.TB, p Process) {
	t.Helper()
	s.signal(t, p, syscall.SIGKILL, 10*time.Second)
}

// Stop sends p SIGTERM, as an orchestrator stops it, and fails the test
// unless it exits within 30 s. Up (Start, for clamd) starts it again; the
// test's cleanup does at the latest.
func (s *Stack) Stop(t testing.TB, p Process) {
	t.Helper()
	s.signal(t, p, syscall.SIGTERM, 30*time.Second)
}

func (s *Stack) signal(t testing.TB, p Process, sig syscall.Signal, within time.Duration) {
	t.Helper()
	pid := s.PID(t, p)
	t.Cleanup(func() {
		if p == ClamdProcess {
			s.Start(t, p)
		} else {
			s.Up(t)
		}
	})
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("sending %s to %s (pid %d): %v", sig, p, pid, err)
	}
	Eventually(t, within, func() (bool, string) {
		return !alive(pid), fmt.Sprintf("%s (pid %d) still runs after %s", p, pid, sig)
	})
}

// Start starts clamd again after Stop or Kill (on the local stack with
// deploy/local/stack.sh start-one clamd), on the same address, and returns
// once it answers PING. Ferry's own processes come back with Up.
func (s *Stack) Start(t testing.TB, p Process) {
	t.Helper()
	if p != ClamdProcess {
		t.Fatalf("stacktest: Start starts clamd only; start %s with Up", p)
	}
	if s.local {
		if out, err := stackSh(s.Root, "start-one", string(p)); err != nil {
			t.Fatalf("deploy/local/stack.sh start-one %s: %v\n%s", p, err, out)
		}
		return
	}
	run.Lock()
	defer run.Unlock()
	if err := run.own.start(s, Clamd); err != nil {
		t.Fatalf("stacktest: %v", err)
	}
}

// ownPID is the PID of the binary's own clamd.
func (s *Stack) ownPID(t testing.TB, p Process) int {
	t.Helper()
	if p != ClamdProcess {
		t.Fatalf("stacktest: %s is one of the local stack's processes: declare stacktest.Ferry", p)
	}
	run.Lock()
	defer run.Unlock()
	proc := run.own.procs[Clamd]
	if proc == nil {
		t.Fatal("stacktest: clamd is not running: declare stacktest.Clamd first")
	}
	return proc.cmd.Process.Pid
}

// Pause stops p with SIGSTOP: it keeps its connections open but answers
// nothing, as a hung server or one stalled by its machine would. The
// returned function (also run at the test's cleanup) continues it with
// SIGCONT.
func (s *Stack) Pause(t testing.TB, p Process) (resume func()) {
	t.Helper()
	pid := s.PID(t, p)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("sending SIGSTOP to %s (pid %d): %v", p, pid, err)
	}
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil && alive(pid) {
				t.Errorf("sending SIGCONT to %s (pid %d): %v", p, pid, err)
			}
		})
	}
	t.Cleanup(resume)
	return resume
}

// PIDs are the process IDs of the local stack's running processes, by
// name (deploy/local/stack.sh status), so a test can tell which processes
// a fault restarted and which kept running.
func (s *Stack) PIDs(t testing.TB) map[Process]int {
	t.Helper()
	s.mustBeLocal(t, "PIDs")
	// Exit status 3 says some process is stopped; the lines still say which.
	out, _ := stackSh(s.Root, "status")
	pids := map[Process]int{}
	for _, line := range strings.Split(string(out), "\n") {
		var name string
		var pid int
		if n, _ := fmt.Sscanf(line, "%s running (pid %d)", &name, &pid); n == 2 {
			pids[Process(name)] = pid
		}
	}
	if len(pids) == 0 {
		t.Fatalf("deploy/local/stack.sh status lists no running process:\n%s", out)
	}
	return pids
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
