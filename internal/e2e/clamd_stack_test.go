//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/ferrydata/ferry/internal/clamd"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// The local stack's clamd serves at the address the worker is given, and
// stops and starts alone, as tests of a scanner outage need.
func TestTheStacksClamdStopsAndStartsAlone(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	ctx := context.Background()
	if got := st.ClamdAddress(); got != "tcp://127.0.0.1:3310" {
		t.Fatalf("FERRY_SCANNER_CLAMD in .ferry/stack.env is %q, want tcp://127.0.0.1:3310 (deploy/local/stack.sh)", got)
	}
	tcp, err := clamd.New(st.ClamdAddress(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	unix, err := clamd.New(st.ClamdSocketAddress(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	eicarFound := func(c *clamd.Client) {
		t.Helper()
		s, err := c.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Abort()
		if _, err := s.Write([]byte("id,note\n1,X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n")); err != nil {
			t.Fatal(err)
		}
		if res, err := s.Close(); err != nil || res.Clean || res.Signature != "Eicar-Test-Signature.UNOFFICIAL" {
			t.Fatalf("EICAR in a CSV over %s: %+v, %v", c.Address(), res, err)
		}
	}
	eicarFound(tcp)
	eicarFound(unix)

	worker := st.PID(t, stacktest.Worker)
	st.Stop(t, stacktest.ClamdProcess)
	if err := tcp.Ping(ctx); err == nil {
		t.Fatal("clamd answers PING after Stop")
	}
	st.Start(t, stacktest.ClamdProcess)
	eicarFound(tcp)
	if st.PID(t, stacktest.Worker) != worker {
		t.Error("stopping and starting clamd restarted the worker")
	}
}
