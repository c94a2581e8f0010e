// Package starter holds the ferry command (starter/ferry): the bridge
// daemon that starts Ferry's workflows and the operator commands that
// steer and inspect them. Run is the whole command, so tests drive it
// in-process.
//
//	ferry bridge     receive S3 event notifications (HTTP, and SQS when
//	                 bridge.sqs.queue is set) and start IngestFile
//	ferry list|show|batch|approve|reject|audit|report|backfill|expectations   operator commands
//	ferry config from-terraform                     ferry.yaml from Terraform's outputs
package starter

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ferrydata/ferry/internal/bridge"
)

const usage = `usage: ferry <command> [flags]

commands:
  bridge   receive S3 event notifications (POST ` + bridge.EventsPath + `, and from the SQS queue bridge.sqs.queue)
           and start one IngestFile workflow per object version
  backfill --partner P [--prefix PATH] [--since TIME|DURATION] [--rate N] [--dry-run]:
           start ingestion for files already in landing (rate-limited, with progress and a final count)
  list     --status S and/or --partner P: list files from the record (newest first)
  show     --workflow-id ID: one file's record and its verified audit trail
  batch    --partner P --folder B: one batch (a folder below inbound/ with a manifest): status, files,
           what is missing or mismatched, decisions
  approve  --workflow-id ID --approver NAME --reason WHY [--key ~/.ssh/id_ed25519]: release a quarantined file (or batch: its workflow ID)
  reject   the same flags: reject it
  report   --file-id ID --out DIR, or --partner P --from TIME --to TIME --out DIR:
           write an evidence report (self-contained HTML that prints to PDF, and the same facts as JSON)
  audit    --file-id ID: print a file's audit trail and verify its hash chain
           --partner NAME: verify the trail of every file of a partner (exit 1 names the first broken entry)
  expectations [--partner P] [--date YYYY-MM-DD]:
           the files partners should deliver: each expectation's window, warning and deadline
           in its time zone, and its state that day (waiting, arrived, late, missing, arrived late)
  config from-terraform [--base FILE] [--out FILE] < terraform-output.json:
           render ferry.yaml from the outputs of Ferry's Terraform module (deploy/terraform)

flags (every command): --config FILE (or FERRY_CONFIG), --temporal.address, --temporal.namespace, --bridge.listen
`

// Run runs the ferry command with args (without the program name) and
// returns its exit code: 0, 1 for a failed command, 2 for bad usage.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "bridge":
		err = runBridge(args[1:])
	case "audit":
		err = runAudit(args[1:], stdout)
	case "list":
		err = runList(args[1:], stdout)
	case "show":
		err = runShow(args[1:], stdout)
	case "batch":
		err = runBatch(args[1:], stdout)
	case "report":
		err = runReport(args[1:], stdout)
	case "backfill":
		err = runBackfill(args[1:], stdout, stderr, isTerminal(stderr))
	case "approve", "reject":
		err = runDecide(args[0], args[1:], stdout)
	case "expectations":
		err = runExpectations(args[1:], stdout, time.Now())
	case "config":
		err = runConfig(args[1:], os.Stdin, stdout)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ferry: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "ferry "+args[0]+":", err)
		return 1
	}
	return 0
}

// isTerminal reports whether w is a terminal (the backfill then draws a
// progress bar rather than a line per 10 %).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
