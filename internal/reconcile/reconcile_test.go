package reconcile

import (
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/landing"
)

// A version younger than the grace is left to its event; once older, the
// reconciler starts it (and counts a lost event). With no grace every
// version is due at once.
func TestVersionsAreDueOnceTheirEventHadItsGrace(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		grace, age time.Duration
		due        bool
	}{
		{5 * time.Minute, time.Second, false},
		{5 * time.Minute, 5*time.Minute - time.Millisecond, false},
		{5 * time.Minute, 5 * time.Minute, true},
		{5 * time.Minute, 3 * time.Hour, true},
		{0, 0, true},
		// A clock behind S3's: the version looks younger than it is, and
		// waits for a later run rather than being taken for lost.
		{5 * time.Minute, -time.Minute, false},
	}
	for _, tt := range tests {
		a := &Activities{Grace: tt.grace}
		v := landing.Version{Key: "acme/inbound/a.csv", LastModified: now.Add(-tt.age)}
		if got := a.due(v, now); got != tt.due {
			t.Errorf("grace %s, version %s old: due %v, want %v", tt.grace, tt.age, got, tt.due)
		}
	}
}
