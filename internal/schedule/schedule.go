// Package schedule keeps a Temporal Schedule as the config describes it.
// Every worker calls Ensure at start for each schedule it owns (the
// reconciler, the audit anchor checkpoints, one per expected file), so it
// must be safe to call from many workers at once and again after the
// config changed.
package schedule

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// Ensure creates the schedule opts describes, or, when one with its ID
// exists (another worker created it, or the config changed since), brings
// its spec, action and policies to opts. The schedule's state (paused by an
// operator, its notes, remaining actions) is kept: an operator's pause
// survives a worker restart.
func Ensure(ctx context.Context, sc client.ScheduleClient, opts client.ScheduleOptions) error {
	_, err := sc.Create(ctx, opts)
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = sc.GetHandle(ctx, opts.ID).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				spec := opts.Spec
				s.Spec, s.Action = &spec, opts.Action
				policy := client.SchedulePolicies{Overlap: opts.Overlap, CatchupWindow: opts.CatchupWindow, PauseOnFailure: opts.PauseOnFailure}
				if policy.CatchupWindow == 0 && s.Policy != nil {
					// Zero asks for the server's default on create; keep
					// what the server chose then.
					policy.CatchupWindow = s.Policy.CatchupWindow
				}
				s.Policy = &policy
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
		if err != nil {
			return fmt.Errorf("updating schedule %s to the config: %w", opts.ID, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating schedule %s: %w", opts.ID, err)
	}
	return nil
}
