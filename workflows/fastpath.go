package workflows

// releaseVersion marks executions started with every patch before it in
// place: the small-file fast path, recorded provenance and the anchored
// audit head. Each patch's own GetVersion wrote a marker and made the SDK
// upsert TemporalChangeVersion, and each upsert is a visibility write on
// the server: three per small file, most of what a file cost Temporal
// beyond a bare workflow. A new execution asks this one version; one
// started before it replays with the markers of the patches it has. A
// later patch gets a GetVersion of its own again (or a release of its
// own, when several land at once).
const releaseVersion = "ferry-release-2026-12"

// fastPathVersion marks histories whose files may take the small-file
// fast path (workflow.GetVersion in run); those written before it replay
// on the regular path. The same mark lets a file's first status stand as
// the start set it (showsStatus).
const fastPathVersion = "small-file-fast-path"

// takesFastPath decides whether the file is inspected and delivered by
// local activities (options.go, smallCtx): the execution is patched and
// the file is no larger than the input's SmallFileMaxBytes by its event's
// size. Inspection checks the size S3 reports and hands back what it must
// not read that way. On the fast path the record goes from received
// straight to its outcome: the inspecting and delivering stages last
// milliseconds and are not written as statuses of their own (each would
// be a DynamoDB write and an audit entry); what inspection and delivery
// established is in the outcome's record and audit entry as on the
// regular path.
func (w *pipeline) takesFastPath() bool {
	return w.patched && w.in.SmallFileMaxBytes > 0 && w.in.Size <= w.in.SmallFileMaxBytes
}
