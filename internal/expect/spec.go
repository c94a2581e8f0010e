// Package expect holds expectations: files a partner should deliver on a
// calendar ("a file matching labs_*.csv by 06:00 Europe/Berlin on
// weekdays, warn at 05:30"). It is the one home of their configuration
// (Spec, validated at start), of the occurrences a calendar makes (their
// window, warning, deadline and late period, computed here and handed to
// workflow code in its input), of the contract of the workflows that
// watch them (names, IDs, signal, query) and of the Temporal Schedules
// that open each window.
//
// An occurrence is one day the file is due. Its window opens at local
// midnight of that day (in the expectation's time zone); a matching file
// that arrives from then until the deadline is on time. With no file by
// warn_at, partner.file_late is sent; with none by the deadline,
// partner.file_missing. The occurrence then stays open until the next
// occurrence's window opens: a file that arrives in that time closes the
// gap with partner.file_arrived_late. A file arriving outside every
// window (before the first occurrence day's midnight) counts for the most
// recent occurrence before it, which is the one still open.
package expect

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
	// Time zones come from the binary, not the machine: a container
	// without /usr/share/zoneinfo must still know Europe/Berlin.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// Spec is one expectation of a partner, as the config gives it
// (partners.<name>.expectations[i]).
type Spec struct {
	// Name identifies the expectation within its partner: workflow and
	// schedule IDs, the metrics' expectation label, notifications.
	Name string `mapstructure:"name"`
	// Pattern is a glob (path.Match: * does not cross '/') on the path
	// below the partner's inbound/ folder, e.g. labs_*.csv.
	Pattern string `mapstructure:"pattern"`
	// Days are the days the file is due (mon..sun); or Cron, a 5-field
	// cron expression that fires at each deadline (its minute and hour
	// are the deadline, its day fields the days), e.g. "0 6 * * 1-5".
	Days []string `mapstructure:"days"`
	Cron string   `mapstructure:"cron"`
	// TimeZone is an IANA zone (Europe/Berlin); days, deadline and
	// warn_at are read in it.
	TimeZone string `mapstructure:"time_zone"`
	// Deadline is the time of day the file is due by, HH:MM (HH:MM:SS
	// accepted); with Cron it comes from the expression.
	Deadline string `mapstructure:"deadline"`
	// WarnAt, optional, is an earlier time of day at which a file not yet
	// arrived is announced late.
	WarnAt string `mapstructure:"warn_at"`
}

var (
	specName  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)
	timeOfDay = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?$`)
	weekdays  = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
	// Deadlines are parsed with an optional seconds field, so HH:MM:SS
	// deadlines (short windows on a test stack) fit the same schedule.
	parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)
	// A cron deadline names one minute of one hour, so an occurrence is a
	// day and its ID a date.
	oneNumber = regexp.MustCompile(`^[0-9]{1,2}$`)
)

// Check returns every problem of s, each naming its field below prefix
// (partners.acme.expectations[0]).
func (s Spec) Check(prefix string) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, field, fmt.Sprintf(format, args...)))
	}
	if !specName.MatchString(s.Name) {
		bad("name", "%q must be 1-40 characters of a-z, 0-9 and '-' (it names workflows, schedules and a metrics label)", s.Name)
	}
	if s.Pattern == "" {
		bad("pattern", "is required: a glob on the name below the partner's inbound/ folder, like labs_*.csv")
	} else if _, err := path.Match(s.Pattern, ""); err != nil {
		bad("pattern", "%q is not a valid glob: %v", s.Pattern, err)
	}
	if s.TimeZone == "" {
		bad("time_zone", "is required: an IANA time zone like Europe/Berlin or UTC")
	} else if _, err := time.LoadLocation(s.TimeZone); err != nil || strings.EqualFold(s.TimeZone, "local") {
		bad("time_zone", "%q is not an IANA time zone (like Europe/Berlin or UTC)", s.TimeZone)
	}
	switch {
	case len(s.Days) > 0 && s.Cron != "":
		bad("cron", "give days (with deadline) or cron (which fires at the deadline), not both")
	case len(s.Days) == 0 && s.Cron == "":
		bad("days", "give the days the file is due (mon..sun), or a cron expression that fires at the deadline")
	case s.Cron != "":
		if s.Deadline != "" {
			bad("deadline", "leave it out with cron: the cron expression fires at the deadline")
		}
		if err := checkCron(s.Cron); err != nil {
			bad("cron", "%q %v", s.Cron, err)
		}
	default:
		seen := map[string]bool{}
		for i, d := range s.Days {
			if _, ok := weekdays[strings.ToLower(d)]; !ok {
				bad(fmt.Sprintf("days[%d]", i), "%q is not a day: use mon, tue, wed, thu, fri, sat or sun", d)
			} else if seen[strings.ToLower(d)] {
				bad(fmt.Sprintf("days[%d]", i), "%q is listed twice", d)
			}
			seen[strings.ToLower(d)] = true
		}
		if s.Deadline == "" {
			bad("deadline", "is required with days: the time of day the file is due by (HH:MM)")
		} else if !timeOfDay.MatchString(s.Deadline) {
			bad("deadline", "%q is not a time of day (HH:MM)", s.Deadline)
		}
	}
	if s.WarnAt != "" {
		if !timeOfDay.MatchString(s.WarnAt) {
			bad("warn_at", "%q is not a time of day (HH:MM)", s.WarnAt)
		} else if dl, err := s.deadlineClock(); err == nil && clock(s.WarnAt) >= dl {
			bad("warn_at", "%q must be before the deadline (%s): the warning comes first", s.WarnAt, fmtClock(dl))
		}
	}
	return errs
}

func checkCron(expr string) error {
	f := strings.Fields(expr)
	if len(f) != 5 {
		return errors.New("must have 5 fields (minute hour day-of-month month day-of-week), like \"0 6 * * 1-5\"")
	}
	if !oneNumber.MatchString(f[0]) || !oneNumber.MatchString(f[1]) {
		return errors.New("must name one minute and one hour (the deadline, like \"30 5 * * 1-5\"): an occurrence is a day")
	}
	if f[2] != "*" && f[4] != "*" {
		// Cron ORs the two, Temporal's schedules AND them: refuse the
		// ambiguity rather than let them disagree.
		return errors.New("restricts both day-of-month and day-of-week: give one of them as *")
	}
	if _, err := parser.Parse(expr); err != nil {
		return fmt.Errorf("is not a cron expression: %v", err)
	}
	return nil
}

// clock is a time of day in seconds; s is a valid HH:MM[:SS].
func clock(s string) int {
	m := timeOfDay.FindStringSubmatch(s)
	n := func(x string) int {
		v, _ := strconv.Atoi(x) // "" (no seconds) is 0
		return v
	}
	return n(m[1])*3600 + n(m[2])*60 + n(m[4])
}

func fmtClock(sec int) string {
	if sec%60 != 0 {
		return fmt.Sprintf("%02d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%02d:%02d", sec/3600, sec/60%60)
}

// deadlineClock is the deadline's time of day in seconds.
func (s Spec) deadlineClock() (int, error) {
	if s.Cron != "" {
		f := strings.Fields(s.Cron)
		if len(f) != 5 {
			return 0, errors.New("bad cron")
		}
		h, errH := strconv.Atoi(f[1])
		m, errM := strconv.Atoi(f[0])
		if errH != nil || errM != nil || h > 23 || m > 59 {
			return 0, errors.New("bad cron")
		}
		return h*3600 + m*60, nil
	}
	if !timeOfDay.MatchString(s.Deadline) {
		return 0, errors.New("bad deadline")
	}
	return clock(s.Deadline), nil
}

// DeadlineText is the deadline as HH:MM (HH:MM:SS when it has seconds).
func (s Spec) DeadlineText() string {
	d, err := s.deadlineClock()
	if err != nil {
		return "?"
	}
	return fmtClock(d)
}

// dayFields are the cron day fields (day-of-month, month, day-of-week).
func (s Spec) dayFields() string {
	if s.Cron != "" {
		return strings.Join(strings.Fields(s.Cron)[2:], " ")
	}
	var dows []string
	for _, d := range s.Days {
		dows = append(dows, fmt.Sprint(weekdays[strings.ToLower(d)]))
	}
	return "* * " + strings.Join(dows, ",")
}

// WindowCron is the 5-field cron expression that fires when each
// occurrence's window opens (local midnight of each day the file is due),
// for the expectation's Temporal Schedule.
func (s Spec) WindowCron() string { return "0 0 " + s.dayFields() }

// deadlines is the schedule of the deadlines, in the time zone.
func (s Spec) deadlines() (cron.Schedule, *time.Location, error) {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, nil, fmt.Errorf("expectation %s: time zone: %w", s.Name, err)
	}
	d, err := s.deadlineClock()
	if err != nil {
		return nil, nil, fmt.Errorf("expectation %s: invalid deadline", s.Name)
	}
	sched, err := parser.Parse(fmt.Sprintf("%d %d %d %s", d%60, d/60%60, d/3600, s.dayFields()))
	if err != nil {
		return nil, nil, fmt.Errorf("expectation %s: %w", s.Name, err)
	}
	return sched, loc, nil
}

// Matches reports whether path, below the partner's inbound/ folder,
// is a file this expectation waits for.
func (s Spec) Matches(path string) bool {
	ok, _ := pathMatch(s.Pattern, path)
	return ok
}

var pathMatch = path.Match
