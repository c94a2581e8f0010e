package starter

import (
	"strings"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/expect"
)

// What ferry expectations says of an occurrence, from its trail.
func TestDescribeAnOccurrence(t *testing.T) {
	spec := expect.Spec{Name: "labs", Pattern: "labs_*.csv", Days: []string{"fri"}, TimeZone: "Europe/Berlin", Deadline: "06:00", WarnAt: "05:30"}
	occ, _, err := spec.On("acme", "2026-03-27")
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Europe/Berlin")
	late := audit.Next(nil, occ.ID(), occ.WarnAt, "ferry", expect.ActionLate, expect.Details{Deadline: occ.Deadline}.String())
	missing := audit.Next(&late, occ.ID(), occ.Deadline, "ferry", expect.ActionMissing, expect.Details{Deadline: occ.Deadline}.String())
	arrival := &expect.Arrival{Key: "acme/inbound/labs_1.csv", At: occ.Deadline.Add(2 * time.Hour)}
	arrivedLate := audit.Next(&missing, occ.ID(), arrival.At, "ferry", expect.ActionArrivedLate, expect.Details{Deadline: occ.Deadline, Arrival: arrival}.String())
	inTime := audit.Next(&late, occ.ID(), occ.WarnAt.Add(time.Minute), "ferry", expect.ActionArrived, expect.Details{Deadline: occ.Deadline, Arrival: &expect.Arrival{Key: "acme/inbound/labs_2.csv", At: occ.WarnAt.Add(time.Minute)}}.String())
	tests := []struct {
		name  string
		trail []audit.Entry
		now   time.Time
		want  string
	}{
		{"before anything", nil, occ.Opens.Add(time.Hour), "waiting"},
		{"past its time unrecorded", nil, occ.Deadline.Add(time.Hour), "waiting, but past its time with nothing recorded"},
		{"warned", []audit.Entry{late}, occ.WarnAt.Add(time.Minute), "late (warned 2026-03-27 05:30:00)"},
		{"missing", []audit.Entry{late, missing}, occ.Deadline.Add(time.Hour), "missing since 2026-03-27 06:00:00"},
		{"arrived late", []audit.Entry{late, missing, arrivedLate}, occ.Deadline.Add(3 * time.Hour), "arrived late: acme/inbound/labs_1.csv at 2026-03-27 08:00:00"},
		{"arrived after the warning", []audit.Entry{late, inTime}, occ.Deadline, "arrived (warned): acme/inbound/labs_2.csv at 2026-03-27 05:31:00"},
	}
	for _, tt := range tests {
		if got := describe(occ, tt.trail, tt.now, loc); !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
