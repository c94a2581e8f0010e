package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/ferrydata/ferry/internal/ingest"
)

// provenanceVersion marks executions that record who wrote the file and
// from where (the input's Provenance) in the record, the first audit
// entry and the status query. Only an input that carries provenance asks
// for the version, so histories from before it replay exactly as they
// were; an execution an older worker began without recording it goes on
// without it.
const provenanceVersion = "record-provenance"

// provenance is the input's provenance when this execution records it,
// nil otherwise.
func (w *pipeline) provenance(ctx workflow.Context) *ingest.Provenance {
	if w.in.Provenance == nil {
		return nil
	}
	if !w.sinceRelease && workflow.GetVersion(ctx, provenanceVersion, workflow.DefaultVersion, 1) < 1 {
		return nil
	}
	p := *w.in.Provenance
	return &p
}
