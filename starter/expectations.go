package starter

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/awsclients"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/expect"
)

// runExpectations lists the configured expectations with their window,
// warning and deadline on a day (today, in each one's time zone) and the
// state their occurrence's audit trail records:
//
//	ferry expectations [--partner acme] [--date 2026-03-27]
func runExpectations(args []string, out io.Writer, now time.Time) error {
	fs := pflag.NewFlagSet("expectations", pflag.ContinueOnError)
	config.BindFlags(fs)
	partner := fs.String("partner", "", "only this partner's expectations")
	date := fs.String("date", "", "the day, YYYY-MM-DD in each expectation's time zone (default: today there)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *date != "" {
		if _, err := time.Parse(expect.DateLayout, *date); err != nil {
			return fmt.Errorf("--date %q is not a day: give YYYY-MM-DD", *date)
		}
	}
	cfg, err := loadConfig(fs, *partner)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := awsclients.Load(ctx, cfg.S3.PathStyle)
	if err != nil {
		return err
	}
	trails := &audit.Store{DB: cl.DynamoDB, Table: cfg.DynamoDB.AuditTable}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTNER\tEXPECTATION\tPATTERN\tDATE\tWINDOW\tWARN\tDEADLINE\tTIME ZONE\tSTATE")
	n := 0
	for _, e := range cfg.Expectations() {
		if *partner != "" && e.Partner != *partner {
			continue
		}
		n++
		loc, err := time.LoadLocation(e.Spec.TimeZone)
		if err != nil {
			return fmt.Errorf("expectation %s of %s: %w", e.Spec.Name, e.Partner, err)
		}
		day := *date
		if day == "" {
			day = now.In(loc).Format(expect.DateLayout)
		}
		occ, due, err := e.Spec.On(e.Partner, day)
		if err != nil {
			return err
		}
		if !due {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t%s\t%s\tnot due this day\n", e.Partner, e.Spec.Name, e.Spec.Pattern, day, e.Spec.DeadlineText(), e.Spec.TimeZone)
			continue
		}
		trail, err := trails.List(ctx, occ.ID())
		if err != nil {
			return fmt.Errorf("reading the record of %s: %w", occ.ID(), err)
		}
		local := func(t time.Time) string {
			if t.IsZero() {
				return "-"
			}
			l := t.In(loc)
			if l.Second() != 0 {
				return l.Format("15:04:05")
			}
			return l.Format("15:04")
		}
		window := local(occ.Opens) + "-" + local(occ.Deadline)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Partner, e.Spec.Name, e.Spec.Pattern, occ.Date, window,
			local(occ.WarnAt), local(occ.Deadline), e.Spec.TimeZone, describe(occ, trail, now, loc))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(out, "no expectations configured (partners.<name>.expectations)")
	}
	return nil
}

// describe says an occurrence's state as its trail records it.
func describe(occ expect.Occurrence, trail []audit.Entry, now time.Time, loc *time.Location) string {
	phase, a, at := expect.FromTrail(trail)
	when := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04:05") }
	warned := ""
	for _, e := range trail {
		if e.Action == expect.ActionLate {
			warned = " (warned)"
		}
	}
	switch phase {
	case expect.Arrived:
		return fmt.Sprintf("arrived%s: %s at %s", warned, a.Key, when(a.At))
	case expect.ArrivedLate:
		return fmt.Sprintf("arrived late: %s at %s", a.Key, when(a.At))
	case expect.Missing:
		return "missing since " + when(at)
	case expect.Late:
		return "late (warned " + when(at) + ")"
	}
	switch {
	case now.Before(occ.Opens):
		return "not open yet"
	case !occ.WarnAt.IsZero() && !now.Before(occ.WarnAt.Add(time.Minute)) || !now.Before(occ.Deadline.Add(time.Minute)):
		// The watch records within moments of its times.
		return "waiting, but past its time with nothing recorded: is the worker running? (temporal workflow describe -w " + occ.ID() + ")"
	}
	return "waiting"
}
