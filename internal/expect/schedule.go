package expect

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	temporalschedule "github.com/ferrydata/ferry/internal/schedule"
)

// Expectation is a partner's Spec.
type Expectation struct {
	Partner string
	Spec    Spec
}

// EnsureSchedules makes Temporal hold one Schedule per expectation, as
// the config says: it creates missing ones, updates existing ones to the
// config, and deletes the schedules of expectations no longer in it.
// Every worker calls it at start; calls from several are harmless (a
// create that loses the race updates instead).
//
// Each schedule fires when an occurrence's window opens (local midnight
// of each day the file is due, in its time zone) and starts
// ExpectWindow, which starts the occurrence's ExpectFile. Temporal, not a
// machine's clock, keeps the calendar: a worker that is down at midnight
// gets the missed start when it is back (within a day).
func EnsureSchedules(ctx context.Context, tc client.Client, taskQueue string, all []Expectation, log *slog.Logger) error {
	sc := tc.ScheduleClient()
	want := map[string]bool{}
	for _, e := range all {
		id := ScheduleID(e.Partner, e.Spec.Name)
		want[id] = true
		spec := client.ScheduleSpec{CronExpressions: []string{e.Spec.WindowCron()}, TimeZoneName: e.Spec.TimeZone}
		action := &client.ScheduleWorkflowAction{
			ID: "expect-window-" + e.Partner + "-" + e.Spec.Name, Workflow: WindowWorkflowName, TaskQueue: taskQueue,
			Args:               []any{&WindowInput{Partner: e.Partner, Spec: e.Spec}},
			WorkflowRunTimeout: time.Hour,
		}
		err := temporalschedule.Ensure(ctx, sc, client.ScheduleOptions{
			ID: id, Spec: spec, Action: action,
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL, CatchupWindow: 24 * time.Hour,
			Memo: map[string]any{"partner": e.Partner, "expectation": e.Spec.Name},
		})
		if err != nil {
			return fmt.Errorf("expectation %s of %s: %w", e.Spec.Name, e.Partner, err)
		}
	}
	it, err := sc.List(ctx, client.ScheduleListOptions{PageSize: 100})
	if err != nil {
		return fmt.Errorf("listing schedules to remove those of expectations no longer configured: %w", err)
	}
	for it.HasNext() {
		s, err := it.Next()
		if err != nil {
			return fmt.Errorf("listing schedules: %w", err)
		}
		if !strings.HasPrefix(s.ID, SchedulePrefix) || want[s.ID] {
			continue
		}
		if err := sc.GetHandle(ctx, s.ID).Delete(ctx); err != nil {
			return fmt.Errorf("deleting schedule %s, whose expectation is no longer configured: %w", s.ID, err)
		}
		log.Info("deleted the schedule of an expectation no longer configured", "schedule_id", s.ID)
	}
	return nil
}
