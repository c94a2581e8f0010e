//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/ferrydata/ferry/internal/bridge"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// postUntilAcknowledged POSTs one event to the local stack's bridge as S3
// or EventBridge would: again after each 503, as long as its Retry-After
// says (a second without one), until the bridge acknowledges it (204) or
// 10 minutes have passed. It returns how often the bridge pushed back and
// how many of those answers lacked Retry-After.
func postUntilAcknowledged(client *http.Client, st *stacktest.Stack, body []byte) (busy, noRetryAfter int, err error) {
	url := "http://" + st.Config.Bridge.Listen + bridge.EventsPath
	for deadline := time.Now().Add(10 * time.Minute); time.Now().Before(deadline); {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return busy, noRetryAfter, err
		}
		req.Header.Set("Authorization", "Bearer "+st.Env["FERRY_BRIDGE_AUTH_TOKEN"])
		resp, err := client.Do(req)
		if err != nil {
			time.Sleep(time.Second) // the connection failed: retry as a sender would
			continue
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusNoContent:
			return busy, noRetryAfter, nil
		case http.StatusServiceUnavailable:
			busy++
			secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil {
				noRetryAfter++
				secs = 1
			}
			time.Sleep(time.Duration(secs) * time.Second)
		default:
			return busy, noRetryAfter, fmt.Errorf("the bridge answered an event with %s: %s", resp.Status, msg)
		}
	}
	return busy, noRetryAfter, fmt.Errorf("the bridge did not acknowledge an event within 10 minutes: %s", body)
}
