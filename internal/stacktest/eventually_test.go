package stacktest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fatalRecorder stands in for a test so Eventually's failure can be seen.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	calls := 0
	Eventually(t, 10*time.Second, func() (bool, string) {
		calls++
		return calls == 20, fmt.Sprintf("call %d", calls)
	})
	if calls != 20 {
		t.Fatalf("cond was called %d times after it held, want it to stop at 20", calls)
	}
}

func TestEventuallyReportsTheLastStateSeen(t *testing.T) {
	r := &fatalRecorder{TB: t}
	calls := 0
	start := time.Now()
	Eventually(r, 300*time.Millisecond, func() (bool, string) {
		calls++
		return false, fmt.Sprintf("%d messages still queued", calls)
	})
	took := time.Since(start)
	want := fmt.Sprintf("not within 300ms; last seen: %d messages still queued", calls)
	if r.fatal != want {
		t.Fatalf("failure %q, want %q", r.fatal, want)
	}
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Errorf("gave up after %s, want about 300ms", took)
	}
}

// A cheap condition is polled often: a change is noticed at once, not a
// fixed tick later, so a benchmark can time with Eventually.
func TestEventuallyPollsACheapConditionOften(t *testing.T) {
	r := &fatalRecorder{TB: t}
	calls := 0
	Eventually(r, 200*time.Millisecond, func() (bool, string) { calls++; return false, "" })
	if calls < 20 {
		t.Errorf("a free condition was polled %d times in 200ms, want it polled every millisecond or so", calls)
	}
	if !strings.HasPrefix(r.fatal, "not within 200ms") {
		t.Errorf("failure %q", r.fatal)
	}
}
