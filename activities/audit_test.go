//go:build integration

package activities_test

import (
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/ferrydata/ferry/activities"
	"github.com/ferrydata/ferry/internal/audit"
	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/metrics"
	"github.com/ferrydata/ferry/internal/metrics/metricstest"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// An append that meets another entry under its number is refused for
// good and counted as a failed verification of the partner's trail; a
// retried append of the identical entry is neither.
func TestAuditConflictCountsAsAVerificationFailure(t *testing.T) {
	st := stacktest.Require(t, stacktest.DynamoDB)
	exp, in := metricstest.Instruments(t, "acme", "globex")
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(&activities.Activities{Audit: st.AuditTable(t), Metrics: in})

	id := fileid.WorkflowID("acme", "landing", "acme/inbound/"+stacktest.Unique("a-")+".csv", "v1")
	first := audit.Next(nil, id, time.Now(), "ferry", "status:received", "")
	for range 2 { // the second is a retried activity
		if _, err := env.ExecuteActivity(activities.AppendAuditName, &first); err != nil {
			t.Fatalf("appending entry 1: %v", err)
		}
	}
	acme := map[string]string{"partner": "acme"}
	if v, _ := metricstest.Gather(t, exp.Registry).Value(metrics.AuditVerificationFailuresTotal, acme); v != 0 {
		t.Fatalf("an intact trail counted %v failures", v)
	}
	forged := audit.Next(nil, id, time.Now(), "mallory", "approve", "let it through")
	_, err := env.ExecuteActivity(activities.AppendAuditName, &forged)
	appErr(t, err, activities.ErrAuditConflict)
	m := metricstest.Gather(t, exp.Registry)
	if v, _ := m.Value(metrics.AuditVerificationFailuresTotal, acme); v != 1 {
		t.Errorf("%s{partner=acme} = %v after a conflicting append, want 1", metrics.AuditVerificationFailuresTotal, v)
	}
	if got := m.Labels(metrics.AuditVerificationFailuresTotal, "partner"); len(got) != 1 {
		t.Errorf("failures counted for partners %v, want acme's alone", got)
	}
}
