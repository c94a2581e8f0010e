//go:build integration

package schedule_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/ferrydata/ferry/internal/schedule"
	"github.com/ferrydata/ferry/internal/stacktest"
)

func options(id string, every time.Duration, overlap enumspb.ScheduleOverlapPolicy) client.ScheduleOptions {
	return client.ScheduleOptions{
		ID:   id,
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Action: &client.ScheduleWorkflowAction{
			ID: id + "-run", Workflow: "NoSuchWorkflow", TaskQueue: "unpolled-" + id,
		},
		Overlap: overlap,
	}
}

// Workers call Ensure at start, several at once and again after the
// config changed: one schedule results, it follows the latest config,
// and an operator's pause survives.
func TestEnsureCreatesOnceThenFollowsTheConfigAndKeepsAPause(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	ctx := context.Background()
	sc := st.Temporal.ScheduleClient()
	id := stacktest.Unique("schedule-test-")
	t.Cleanup(func() { _ = sc.GetHandle(context.Background(), id).Delete(context.Background()) })

	// Three workers starting together: one creates, the others update.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = schedule.Ensure(ctx, sc, options(id, time.Hour, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	h := sc.GetHandle(ctx, id)
	if err := h.Pause(ctx, client.SchedulePauseOptions{Note: "paused by an operator"}); err != nil {
		t.Fatal(err)
	}
	// A pause is a signal to the schedule's workflow; a describe may be
	// answered before it is handled.
	stacktest.Eventually(t, 10*time.Second, func() (bool, string) {
		d, err := h.Describe(ctx)
		if err != nil {
			return false, err.Error()
		}
		return d.Schedule.State.Paused, fmt.Sprintf("state %+v", d.Schedule.State)
	})

	// The config changed: every 10 minutes, overlapping runs buffered.
	if err := schedule.Ensure(ctx, sc, options(id, 10*time.Minute, enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE)); err != nil {
		t.Fatal(err)
	}
	d, err := h.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Schedule
	if got := s.Spec.Intervals; len(got) != 1 || got[0].Every != 10*time.Minute {
		t.Errorf("intervals %+v, want every 10m as the config now says", got)
	}
	if got := s.Policy.Overlap; got != enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE {
		t.Errorf("overlap policy %v, want BUFFER_ONE as the config now says", got)
	}
	if s.Policy.CatchupWindow <= 0 {
		t.Errorf("catch-up window %v: the server's default was lost on update", s.Policy.CatchupWindow)
	}
	if !s.State.Paused || s.State.Note != "paused by an operator" {
		t.Errorf("state %+v: the operator's pause was lost on update", s.State)
	}
}

// A server that refuses the schedule is reported with the schedule's ID.
func TestEnsureNamesTheScheduleItCouldNotCreate(t *testing.T) {
	st := stacktest.Require(t, stacktest.Temporal)
	opts := options(stacktest.Unique("schedule-bad-"), time.Hour, enumspb.SCHEDULE_OVERLAP_POLICY_SKIP)
	opts.Spec = client.ScheduleSpec{CronExpressions: []string{"not a cron"}}
	err := schedule.Ensure(context.Background(), st.Temporal.ScheduleClient(), opts)
	if err == nil {
		_ = st.Temporal.ScheduleClient().GetHandle(context.Background(), opts.ID).Delete(context.Background())
		t.Fatal("a schedule with an invalid cron expression was accepted")
	}
	if want := opts.ID; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name schedule %s", err, want)
	}
}
