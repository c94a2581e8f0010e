package starter

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunSaysHowToUseIt(t *testing.T) {
	for _, tt := range []struct {
		args     []string
		code     int
		out, err string
	}{
		{nil, 2, "", "usage: ferry <command>"},
		{[]string{"help"}, 0, "usage: ferry <command>", ""},
		{[]string{"aprove"}, 2, "", `ferry: unknown command "aprove"`},
		{[]string{"approve", "--approver", "alice"}, 1, "", "ferry approve: "},
	} {
		var out, errOut bytes.Buffer
		code := Run(tt.args, &out, &errOut)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errOut.String(), tt.err) {
			t.Errorf("ferry %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tt.args, code, out.String(), errOut.String(), tt.code, tt.out, tt.err)
		}
	}
}
