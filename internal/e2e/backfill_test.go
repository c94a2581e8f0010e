//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ferrydata/ferry/internal/fileid"
	"github.com/ferrydata/ferry/internal/filestatus"
	"github.com/ferrydata/ferry/internal/stacktest"
)

// An operator backfills a partner's folder whose events never came: files
// since the given time are started (rate-limited), a file Ferry already
// knows is counted, not started again, a temporary upload name is skipped
// with the reason, and the final count says all of it.
func TestOperatorBackfillsAFolder(t *testing.T) {
	st := stacktest.Require(t, stacktest.Ferry)
	pauseReconciler(t, st)
	dir := stacktest.Unique("backfill-") + "/"
	key := func(name string) string { return "acme/inbound/" + dir + name }

	old := putSilently(t, st, key("old.csv"), "id\n0\n")[0]
	time.Sleep(1500 * time.Millisecond)
	since := time.Now().UTC().Add(-500 * time.Millisecond).Format(time.RFC3339Nano)
	puts := putSilently(t, st, key("a.csv"), "id\n1\n", key("b.csv"), "id\n1\n", key("c.csv.filepart"), "id\n2\n", key("known.csv"), "id\n3\n")
	var ids []string
	for i, name := range []string{"a.csv", "b.csv"} {
		ids = append(ids, fileid.WorkflowID("acme", "landing", key(name), aws.ToString(puts[i].VersionId)))
	}
	// One file whose event did arrive: already known.
	known := puts[3]
	knownID := fileid.WorkflowID("acme", "landing", key("known.csv"), aws.ToString(known.VersionId))
	sendSQS(t, st, st.Config.Bridge.SQS.Queue, messages(t, object{key: key("known.csv"), version: aws.ToString(known.VersionId), etag: strings.Trim(aws.ToString(known.ETag), `"`), size: 6})["s3"])
	waitStarted(t, st, knownID, 30*time.Second)

	// A dry run starts nothing but counts the same.
	out, err := ferryCmd(t, st, "backfill", "--partner", "acme", "--prefix", dir, "--since", since, "--dry-run")
	if err != nil {
		t.Fatalf("ferry backfill --dry-run: %v\n%s", err, out)
	}
	if !strings.Contains(out, "5 listed, 2 would start, 1 already known, 2 skipped") {
		t.Fatalf("dry run said:\n%s", out)
	}
	for _, id := range ids {
		if _, err := st.Temporal.DescribeWorkflowExecution(context.Background(), id, ""); err == nil {
			t.Fatalf("the dry run started %s", id)
		}
	}

	out, err = ferryCmd(t, st, "backfill", "--partner", "acme", "--prefix", dir, "--since", since, "--rate", "5")
	if err != nil {
		t.Fatalf("ferry backfill: %v\n%s", err, out)
	}
	for _, want := range []string{
		"5 listed, 2 started, 1 already known, 2 skipped",
		"skipped " + key("old.csv") + " (version " + aws.ToString(old.VersionId) + "): last modified",
		"skipped " + key("c.csv.filepart"),
		"100% 5/5",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("backfill output lacks %q:\n%s", want, out)
		}
	}
	for _, id := range ids {
		waitStarted(t, st, id, 10*time.Second)
		if res := waitResult(t, st, id); res.Status != filestatus.Delivered {
			t.Errorf("%s: result %+v, want delivered", id, res)
		}
		if got := source(t, st, id); got != "backfill" {
			t.Errorf("%s: source %q, want backfill", id, got)
		}
	}
	if n := st.Runs(t, knownID); n != 1 {
		t.Errorf("the known file has %d runs, want 1", n)
	}

	// Bad input is refused with what to do.
	for args, want := range map[string]string{
		"--partner nobody":                  `unknown partner "nobody"`,
		"--partner acme --since yesterday":  "give an RFC 3339 time",
		"--partner acme --rate 0":           "give a positive number",
		"--partner acme --prefix ../globex": "without a leading / or ..",
	} {
		out, err := ferryCmd(t, st, append([]string{"backfill"}, strings.Fields(args)...)...)
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("backfill %s: %v\n%s\nwant an error saying %q", args, err, out, want)
		}
	}
}
