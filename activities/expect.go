package activities

import (
	"context"
	"fmt"

	"github.com/ferrydata/ferry/internal/audit"
)

// LastAuditEntryName is the registered name of LastAuditEntry.
const LastAuditEntryName = "LastAuditEntry"

// LastAuditEntry returns the last entry of a trail (nil when it has
// none), for a workflow that continues a trail it did not start: an
// expectation's occurrence (its workflow may be a second run, after
// Temporal's retention forgot the first) chains to what is recorded.
func (a *Activities) LastAuditEntry(ctx context.Context, fileID string) (*audit.Entry, error) {
	trail, err := a.Audit.List(ctx, fileID)
	if err != nil {
		return nil, fmt.Errorf("reading the audit trail of %s: %w", fileID, err)
	}
	if len(trail) == 0 {
		return nil, nil
	}
	return &trail[len(trail)-1], nil
}
