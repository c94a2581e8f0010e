package stacktest

import (
	"testing"
	"time"
)

// Eventually calls cond until it reports ok, and fails the test if that
// has not happened within the given time, with the state cond reported
// last: what the test saw, not only that it waited. Call it from the
// test's goroutine (it calls t.Fatalf); cond may fail the test itself.
//
// cond is called at once, then again after a pause ten times as long as
// its last call took, between 1 ms and 250 ms: a cheap check (a counter)
// notices the change within a millisecond, so benchmarks may time with it,
// while an expensive one (a CLI process, an S3 listing) spends at most
// about a tenth of the machine's time polling.
func Eventually(t testing.TB, within time.Duration, cond func() (ok bool, state string)) {
	t.Helper()
	if state, ok := poll(within, cond); !ok {
		t.Fatalf("not within %s; last seen: %s", within, state)
	}
}

// poll is Eventually without a test, for the helper's own waits.
func poll(within time.Duration, cond func() (bool, string)) (state string, ok bool) {
	deadline := time.Now().Add(within)
	for {
		began := time.Now()
		if ok, state = cond(); ok {
			return state, true
		}
		now := time.Now()
		if !now.Before(deadline) {
			return state, false
		}
		time.Sleep(min(pauseAfter(now.Sub(began)), deadline.Sub(now)))
	}
}

// pauseAfter is the pause after a call of cond that took took: ten times
// as long, between 1 ms and 250 ms.
func pauseAfter(took time.Duration) time.Duration {
	return min(max(10*took, time.Millisecond), 250*time.Millisecond)
}
