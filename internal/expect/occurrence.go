package expect

import (
	"fmt"
	"time"
)

// DateLayout is an occurrence's date, in the expectation's time zone.
const DateLayout = "2006-01-02"

// Occurrence is one day a file is due, with its times. Workflow code
// reads its times from here (its input), never from a clock or a zone
// database.
type Occurrence struct {
	Partner     string
	Expectation string
	Pattern     string
	TimeZone    string
	// Date is the day, YYYY-MM-DD in TimeZone.
	Date string
	// Opens is local midnight of Date: files from then on count.
	Opens time.Time
	// WarnAt is when a file not yet arrived is announced late (zero: no
	// warning).
	WarnAt time.Time
	// Deadline is when a file not yet arrived is announced missing.
	Deadline time.Time
	// Closes is when the next occurrence's window opens: until then a
	// missing file that arrives is announced as arrived late.
	Closes time.Time
}

// ID is the occurrence's workflow ID (and the file ID of its audit
// trail): expect-<partner>-<expectation>-<date>.
func (o Occurrence) ID() string { return ID(o.Partner, o.Expectation, o.Date) }

// ID is the workflow ID of an expectation's occurrence on date.
func ID(partner, expectation, date string) string {
	return fmt.Sprintf("expect-%s-%s-%s", partner, expectation, date)
}

// searchDays bounds how far back or ahead an occurrence day is looked
// for: a year and a bit covers any cron calendar but 29 February.
const searchDays = 400

// On returns the occurrence on date (YYYY-MM-DD in the time zone), and
// false when the file is not due that day.
func (s Spec) On(partner, date string) (Occurrence, bool, error) {
	sched, loc, err := s.deadlines()
	if err != nil {
		return Occurrence{}, false, err
	}
	day, err := time.ParseInLocation(DateLayout, date, loc)
	if err != nil {
		return Occurrence{}, false, fmt.Errorf("date %q is not YYYY-MM-DD: %w", date, err)
	}
	o, ok := s.on(partner, sched, loc, day)
	return o, ok, nil
}

// At returns the occurrence a file arriving at t counts for: the most
// recent one whose window opened at or before t. It is false when none
// did within the search range (an expectation with no past day).
func (s Spec) At(partner string, t time.Time) (Occurrence, bool, error) {
	sched, loc, err := s.deadlines()
	if err != nil {
		return Occurrence{}, false, err
	}
	lt := t.In(loc)
	day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	for range searchDays {
		if o, ok := s.on(partner, sched, loc, day); ok {
			return o, true, nil
		}
		day = day.AddDate(0, 0, -1)
	}
	return Occurrence{}, false, nil
}

type schedule interface{ Next(time.Time) time.Time }

// on builds the occurrence on day (local midnight) if a deadline falls
// on it.
func (s Spec) on(partner string, sched schedule, loc *time.Location, day time.Time) (Occurrence, bool) {
	opens := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
	next := opens.AddDate(0, 0, 1)
	deadline := sched.Next(opens.Add(-time.Second))
	if deadline.IsZero() || !deadline.Before(next) {
		return Occurrence{}, false
	}
	o := Occurrence{
		Partner: partner, Expectation: s.Name, Pattern: s.Pattern, TimeZone: s.TimeZone,
		Date: opens.Format(DateLayout), Opens: opens.UTC(), Deadline: deadline.UTC(),
	}
	if s.WarnAt != "" {
		c := clock(s.WarnAt)
		o.WarnAt = time.Date(opens.Year(), opens.Month(), opens.Day(), c/3600, c/60%60, c%60, 0, loc).UTC()
	}
	// The late period ends where the next occurrence's window opens;
	// without a next one in range, after searchDays.
	o.Closes = opens.AddDate(0, 0, searchDays).UTC()
	if nd := sched.Next(next.Add(-time.Second)); !nd.IsZero() {
		nd = nd.In(loc)
		o.Closes = time.Date(nd.Year(), nd.Month(), nd.Day(), 0, 0, 0, 0, loc).UTC()
	}
	return o, true
}
