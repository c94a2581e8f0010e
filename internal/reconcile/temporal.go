package reconcile

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Overlapping runs are skipped: one reconciler at a time is enough, and
// the next interval picks up where a slow run left off.
const overlapSkip = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP

var errAlreadyRunning = temporal.ErrScheduleAlreadyRunning
