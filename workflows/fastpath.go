package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// fastPathVersion marks histories whose files may take the small-file
// fast path; those written before it replay on the regular path.
const fastPathVersion = "small-file-fast-path"

// takesFastPath decides whether the file is inspected and delivered by
// local activities (options.go, inspectSmallCtx): it is no larger than
// the input's SmallFileMaxBytes by its event's size. Inspection checks the
// size S3 reports and hands back what it must not read that way. On the
// fast path the record goes from received straight to its outcome: the
// inspecting and delivering stages last milliseconds and are not written
// as statuses of their own (each would be a DynamoDB write and an audit
// entry); what inspection and delivery established is in the outcome's
// record and audit entry as on the regular path.
func (w *pipeline) takesFastPath(ctx workflow.Context) bool {
	if workflow.GetVersion(ctx, fastPathVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return false
	}
	return w.in.SmallFileMaxBytes > 0 && w.in.Size <= w.in.SmallFileMaxBytes
}
