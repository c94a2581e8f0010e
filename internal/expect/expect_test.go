package expect

import (
	"testing"
	"time"
)

var labs = Spec{Name: "labs", Pattern: "labs_*.csv", Days: []string{"mon", "tue", "wed", "thu", "fri"}, TimeZone: "Europe/Berlin", Deadline: "06:00", WarnAt: "05:30"}

func berlin(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOccurrenceTimesInTheTimeZone(t *testing.T) {
	// Friday 27 March 2026; Berlin moves to summer time on Sunday 29th.
	o, ok, err := labs.On("acme", "2026-03-27")
	if err != nil || !ok {
		t.Fatalf("On: %v %v", ok, err)
	}
	want := Occurrence{Partner: "acme", Expectation: "labs", Pattern: "labs_*.csv", TimeZone: "Europe/Berlin", Date: "2026-03-27",
		Opens: berlin(t, "2026-03-27 00:00").UTC(), WarnAt: berlin(t, "2026-03-27 05:30").UTC(), Deadline: berlin(t, "2026-03-27 06:00").UTC(),
		Closes: berlin(t, "2026-03-30 00:00").UTC()} // Monday, after the weekend
	if o != want {
		t.Fatalf("occurrence\n got %+v\nwant %+v", o, want)
	}
	if o.ID() != "expect-acme-labs-2026-03-27" {
		t.Errorf("ID %s", o.ID())
	}
	if d := o.Deadline.Sub(o.Opens); d != 6*time.Hour {
		t.Errorf("deadline %s after the window opens, want 6h", d)
	}
	// Monday after the change: 06:00 is 04:00 UTC, not 05:00.
	mon, _, _ := labs.On("acme", "2026-03-30")
	if mon.Deadline != time.Date(2026, 3, 30, 4, 0, 0, 0, time.UTC) {
		t.Errorf("summer-time deadline %s", mon.Deadline)
	}
	if _, ok, _ := labs.On("acme", "2026-03-28"); ok {
		t.Error("a Saturday is an occurrence of a weekday expectation")
	}
}

func TestArrivalCountsForTheOccurrenceStillOpen(t *testing.T) {
	tests := []struct{ at, date string }{
		{"2026-03-27 00:00", "2026-03-27"}, // the window opens
		{"2026-03-27 05:59", "2026-03-27"}, // in time
		{"2026-03-27 09:00", "2026-03-27"}, // late, same day
		{"2026-03-29 23:59", "2026-03-27"}, // Sunday: still Friday's, late
		{"2026-03-30 00:00", "2026-03-30"}, // Monday's window
	}
	for _, tt := range tests {
		o, ok, err := labs.At("acme", berlin(t, tt.at))
		if err != nil || !ok || o.Date != tt.date {
			t.Errorf("a file at %s counts for %q (%v %v), want %s", tt.at, o.Date, ok, err, tt.date)
		}
	}
}

func TestCronGivesDaysAndDeadline(t *testing.T) {
	s := Spec{Name: "monthly", Pattern: "*.xml", Cron: "30 17 1 * *", TimeZone: "UTC"}
	if errs := s.Check("x"); len(errs) > 0 {
		t.Fatal(errs)
	}
	o, ok, _ := s.On("acme", "2026-02-01")
	if !ok || o.Deadline != time.Date(2026, 2, 1, 17, 30, 0, 0, time.UTC) || o.Closes != time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) || !o.WarnAt.IsZero() {
		t.Fatalf("occurrence %+v", o)
	}
	if s.WindowCron() != "0 0 1 * *" || labs.WindowCron() != "0 0 * * 1,2,3,4,5" {
		t.Errorf("window crons %q %q", s.WindowCron(), labs.WindowCron())
	}
	if s.DeadlineText() != "17:30" {
		t.Errorf("deadline text %q", s.DeadlineText())
	}
}

func TestMatchesBelowInbound(t *testing.T) {
	for path, want := range map[string]bool{"labs_2026.csv": true, "labs_.csv": true, "sub/labs_1.csv": false, "labs_1.txt": false, "xlabs_1.csv": false} {
		if labs.Matches(path) != want {
			t.Errorf("Matches(%q) = %v", path, !want)
		}
	}
}
