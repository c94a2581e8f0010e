//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/stacktest"
)

// A failed file pages: the stack's Prometheus evaluates the alert rules of
// deploy/prometheus/rules on what it scraped from the worker, and its
// Alertmanager routes FerryFilesFailed (critical) to the receiver that
// pages, here the webhook sink in place of SNS.
func TestAFailedFileReachesAlertmanagersReceiver(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	ghost := stacktest.Unique("acme/inbound/alert-gone-") + ".csv"
	postEvent(t, st, st.Env["FERRY_BRIDGE_AUTH_TOKEN"], ghost, "00000000-0000-0000-0000-000000000003", http.StatusNoContent)
	findWorkflow(t, st, fmt.Sprintf(`FileStatus="failed" AND ObjectKey=%q`, ghost))

	// Scrape (5 s), rule evaluation (5 s), group_wait (5 s), with room.
	stacktest.Eventually(t, 2*time.Minute, func() (bool, string) {
		ok, err := anyLine(st.Env["FERRY_ALERTS_FILE"], func(line []byte) bool {
			var n struct {
				Receiver string
				Alerts   []struct {
					Status      string
					Labels      map[string]string
					Annotations map[string]string
				}
			}
			if json.Unmarshal(line, &n) != nil {
				return false
			}
			for _, a := range n.Alerts {
				if a.Labels["alertname"] == "FerryFilesFailed" && a.Labels["partner"] == "acme" && a.Status == "firing" {
					if n.Receiver != "sink-critical" || a.Labels["severity"] != "critical" || a.Annotations["runbook"] == "" {
						t.Fatalf("FerryFilesFailed reached receiver %q with labels %v and annotations %v", n.Receiver, a.Labels, a.Annotations)
					}
					return true
				}
			}
			return false
		})
		return ok, fmt.Sprintf("Alertmanager has not sent FerryFilesFailed for acme to the sink %s (%v)", st.Env["FERRY_ALERTS_FILE"], err)
	})
}
