package intake

// Counts is what a listing (a reconcile page or run, a backfill) did with
// the versions it listed. It travels in the Reconcile workflow's history:
// its fields are part of that contract.
type Counts struct {
	Listed  int
	Started int // files no event had started
	Known   int // already recorded or running
	Ignored int // not partner uploads (folder markers, temporary names, ...)
	// Deferred are versions younger than reconcile.grace, left to their
	// events; a later run starts those no event started.
	Deferred int
}

// Add counts one decision; the lister counts Listed as it lists.
func (c *Counts) Add(d Decision) {
	switch d {
	case Start:
		c.Started++
	case Known:
		c.Known++
	case Ignore:
		c.Ignored++
	}
}

// AddCounts adds another listing's counts, as a run sums its pages.
func (c *Counts) AddCounts(o Counts) {
	c.Listed += o.Listed
	c.Started += o.Started
	c.Known += o.Known
	c.Ignored += o.Ignored
	c.Deferred += o.Deferred
}
