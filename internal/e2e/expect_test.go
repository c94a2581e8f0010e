//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/expect"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/notify"
	"github.com/ferrydata/ferry/internal/stacktest"
	"github.com/ferrydata/ferry/starter"
)

// Two files initech should deliver within the next minute: one never
// comes (file_late, then file_missing, recorded and counted), the other
// comes over SFTP after its deadline (file_arrived_late). The real worker
// and bridge run with a config holding the two expectations (the stack's
// own holds none, so that no other test sees their alarms); the real
// Temporal Schedule opens the day's window when triggered, as it would at
// midnight; the webhook sink receives the signed notifications.
func TestExpectedFilesOnTheStack(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	zone := zoneAwayFromMidnight(t, time.Now())
	now := time.Now().In(zone)
	u := stacktest.Unique("")
	never, late := "never-"+u, "late-"+u
	warnAt, deadline := now.Add(40*time.Second).Format("15:04:05"), now.Add(60*time.Second).Format("15:04:05")
	cfgPath := expectationsConfig(t, st, fmt.Sprintf(`    expectations:
      - name: %[1]s
        pattern: never_%[3]s_*.csv
        days: [mon, tue, wed, thu, fri, sat, sun]
        time_zone: %[4]s
        warn_at: "%[5]s"
        deadline: "%[6]s"
      - name: %[2]s
        pattern: late_%[3]s_*.csv
        days: [mon, tue, wed, thu, fri, sat, sun]
        time_zone: %[4]s
        warn_at: "%[5]s"
        deadline: "%[6]s"
`, never, late, u, zone, warnAt, deadline))

	runFerryWith(t, st, cfgPath)
	date := now.Format(expect.DateLayout)
	for _, name := range []string{never, late} {
		id := expect.ScheduleID("initech", name)
		if out, err := exec.Command(st.TemporalCLI(), "schedule", "trigger", "--address", st.Config.Temporal.Address, "--schedule-id", id).CombinedOutput(); err != nil {
			t.Fatalf("temporal schedule trigger --schedule-id %s (the worker creates it at start): %v\n%s", id, err, out)
		}
	}

	lateEv := expectationNotification(t, st, never, expect.TypeLate, 90*time.Second)
	if lateEv.Partner != "initech" || lateEv.Occurrence != date || lateEv.Pattern != "never_"+u+"_*.csv" {
		t.Errorf("file_late %+v, want initech's occurrence of %s", lateEv, date)
	}
	missing := expectationNotification(t, st, never, expect.TypeMissing, 60*time.Second)
	if missing.Deadline.IsZero() || time.Now().Before(missing.Deadline) {
		t.Errorf("file_missing %+v sent before its deadline", missing)
	}
	expectationNotification(t, st, late, expect.TypeMissing, 30*time.Second)

	// The late file comes, over SFTP, after its deadline.
	name := "late_" + u + "_1.csv"
	if out, err := sftpBatch(t, st, "initech", "cd /landing/initech/inbound", "put "+localFile(t, name, []byte("sample,value\nA,1\n"))); err != nil {
		t.Fatalf("sftp upload failed: %v\n%s", err, out)
	}
	arrived := expectationNotification(t, st, late, expect.TypeArrivedLate, 60*time.Second)
	if arrived.Key != "initech/inbound/"+name || !strings.HasPrefix(arrived.FileID, "ingest-initech-") {
		t.Errorf("file_arrived_late %+v, want the uploaded file", arrived)
	}

	// Recorded: what an operator or quality reviewer reads.
	var out, errOut bytes.Buffer
	if code := starter.Run([]string{"expectations", "--partner", "initech", "--config", cfgPath}, &out, &errOut); code != 0 {
		t.Fatalf("ferry expectations: exit %d: %s", code, errOut.String())
	}
	rows := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		for _, n := range []string{never, late} {
			if strings.Contains(line, " "+n+" ") {
				rows[n] = line
			}
		}
	}
	if !strings.Contains(rows[never], "missing since "+date) || !strings.Contains(rows[late], "arrived late: initech/inbound/"+name) {
		t.Errorf("ferry expectations says\n%s\nwant %s missing and %s arrived late", out.String(), never, late)
	}
	for _, n := range []string{never, late} {
		out.Reset()
		if code := starter.Run([]string{"audit", "--file-id", expect.ID("initech", n, date), "--config", cfgPath}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "chain intact") {
			t.Errorf("ferry audit of %s: exit %d\n%s%s", n, code, out.String(), errOut.String())
		}
	}

	// Counted.
	m := scrape(t, "http://"+st.Config.Metrics.WorkerListen+"/metrics")
	for metric, n := range map[string]string{metrics.ExpectationsLateTotal: never, metrics.ExpectationsMissingTotal: never, metrics.ExpectationsArrivedLateTotal: late} {
		if v, _ := m.Value(metric, map[string]string{metrics.LabelPartner: "initech", metrics.LabelExpectation: n}); v != 1 {
			t.Errorf("%s{expectation=%q} = %v, want 1", metric, n, v)
		}
	}
}

// zoneAwayFromMidnight is a time zone in which the next few minutes
// after now stay on one day.
func zoneAwayFromMidnight(t *testing.T, now time.Time) *time.Location {
	t.Helper()
	for _, name := range []string{"Europe/Berlin", "Asia/Tokyo", "America/New_York"} {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		if h := now.In(loc).Hour(); h >= 1 && h <= 21 {
			return loc
		}
	}
	t.Fatal("no zone away from midnight")
	return nil
}

// expectationsConfig writes the local stack's config with initech's
// expectations added, its relative key paths made absolute, and checks
// that Ferry accepts it.
func expectationsConfig(t *testing.T, st *stacktest.Stack, expectations string) string {
	t.Helper()
	base, err := os.ReadFile(filepath.Join(st.Root, "deploy/local/ferry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(base), "../../.ferry/", filepath.Join(st.Root, ".ferry")+"/")
	// The expectations go first in initech's entry, wherever it stands.
	const initech = "\n  initech:\n"
	if strings.Count(text, initech) != 1 {
		t.Fatalf("deploy/local/ferry.yaml has no partner entry %q to give expectations to", strings.TrimSpace(initech))
	}
	text = strings.Replace(text, initech, initech+expectations, 1)
	path := filepath.Join(t.TempDir(), "ferry.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FERRY_CONFIG", path)
	if _, err := config.Load(nil); err != nil {
		t.Fatalf("the test's config: %v", err)
	}
	return path
}

// runFerryWith replaces the stack's worker and bridge with the same
// binaries reading cfgPath, on the same addresses, until the test ends;
// then the stack's own come back.
func runFerryWith(t *testing.T, st *stacktest.Stack, cfgPath string) {
	t.Helper()
	st.Stop(t, stacktest.Worker) // their cleanup starts the stack's own again,
	st.Stop(t, stacktest.Bridge) // after the cleanups below stopped these
	bin := st.Env["FERRY_BIN"]
	for _, p := range []struct {
		name string
		args []string
		addr string
	}{
		{"worker", []string{filepath.Join(bin, "worker"), "--config", cfgPath}, st.Config.Metrics.WorkerListen},
		{"bridge", []string{filepath.Join(bin, "ferry"), "bridge", "--config", cfgPath}, st.Config.Metrics.BridgeListen},
	} {
		logPath := filepath.Join(t.TempDir(), p.name+".log")
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(p.args[0], p.args[1:]...)
		cmd.Env = append(os.Environ(), "FERRY_CONFIG="+cfgPath)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", p.name, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
			}
			_ = logFile.Close()
			if t.Failed() {
				b, _ := os.ReadFile(logPath)
				t.Logf("%s's log:\n%s", p.name, b)
			}
		})
		stacktest.Eventually(t, 60*time.Second, func() (bool, string) {
			resp, err := http.Get("http://" + p.addr + "/readyz")
			if err != nil {
				return false, fmt.Sprintf("%s not ready: %v", p.name, err)
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Sprintf("%s answers /readyz %d", p.name, resp.StatusCode)
		})
	}
}

// expectationNotification waits for the webhook sink to receive typ about
// an expectation, signed, and returns it.
func expectationNotification(t *testing.T, st *stacktest.Stack, expectation, typ string, within time.Duration) notify.Event {
	t.Helper()
	var found notify.Event
	stacktest.Eventually(t, within, func() (bool, string) {
		ok, err := anyLine(st.Env["FERRY_NOTIFICATIONS_FILE"], func(line []byte) bool {
			var rec struct {
				Notification      notify.Event
				SignatureVerified bool
			}
			if json.Unmarshal(line, &rec) != nil || rec.Notification.Expectation != expectation || rec.Notification.Type != typ {
				return false
			}
			if !rec.SignatureVerified {
				t.Fatalf("the webhook sink received %s for %s with a signature that did not verify: %s", typ, expectation, line)
			}
			found = rec.Notification
			return true
		})
		return ok, fmt.Sprintf("the webhook has not received %s for expectation %s (%v)", typ, expectation, err)
	})
	return found
}
