package stacktest

import (
	"fmt"
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
	want := fmt.Sprintf("not within 300ms; last seen: %d messages still queued", calls)
	if r.fatal != want {
		t.Fatalf("failure %q, want %q", r.fatal, want)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("gave up after %s, before its 300ms", took)
	}
}

// A cheap condition is polled often, so a change is noticed at once and a
// benchmark may time with Eventually; an expensive one spends at most about
// a tenth of the time polling.
func TestEventuallyPausesInProportionToTheCondition(t *testing.T) {
	for _, tt := range []struct{ took, want time.Duration }{
		{0, time.Millisecond},
		{50 * time.Microsecond, time.Millisecond},
		{2 * time.Millisecond, 20 * time.Millisecond},
		{time.Second, 250 * time.Millisecond},
	} {
		if got := pauseAfter(tt.took); got != tt.want {
			t.Errorf("pause after a %s call = %s, want %s", tt.took, got, tt.want)
		}
	}
}
