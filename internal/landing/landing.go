// Package landing decides whether an object in the landing bucket is a
// partner's upload that Ferry must ingest, and whose it is. Landing keys
// have the shape <partner>/inbound/<path>; each partner owns one prefix.
package landing

import (
	"fmt"
	"strings"
)

// InboundDir is the folder under each partner's prefix that partners upload into.
const InboundDir = "inbound"

// Upload is a landing key that belongs to a partner.
type Upload struct {
	Partner string
	// Path is the part of the key below <partner>/inbound/, kept as the
	// relative path of the delivered object.
	Path string
}

// Ignored explains why an object is not a partner upload. It is not an
// error: the event is acknowledged and only logged.
type Ignored struct {
	Reason string
	// Class is Reason as one of a few fixed words (folder_marker,
	// outside_prefix, unknown_partner, outside_inbound, sidecar,
	// temporary): a metric label, which must not grow with the keys.
	Class string
	// Expected is true for objects that are never files (folder markers).
	// Anything else may be a partner's file that will not be delivered, so
	// operators should see it.
	Expected bool
}

func (i *Ignored) Error() string { return i.Reason }

// Router maps landing keys to partner uploads.
type Router struct {
	// Partners reports whether a partner name is configured.
	Partners func(string) bool
	// TemporarySuffixes are upload-in-progress endings (".filepart").
	TemporarySuffixes []string
	// Sidecars reports whether a partner sends <file>.sha256 checksum
	// files, which are read by their data file's workflow, not ingested.
	Sidecars func(partner string) bool
}

// Route maps a decoded object key to the partner upload it is, or returns
// *Ignored saying why it is not one.
func (r Router) Route(key string, size int64) (Upload, error) {
	partners := r.Partners
	if strings.HasSuffix(key, "/") {
		// `mkdir` over SFTP creates a zero-byte folder-marker object.
		return Upload{}, &Ignored{Reason: fmt.Sprintf("folder marker %q (size %d) is not a file", key, size), Class: "folder_marker", Expected: true}
	}
	partner, rest, ok := strings.Cut(key, "/")
	if !ok || partner == "" {
		return Upload{}, &Ignored{Reason: fmt.Sprintf("key %q is not under a partner prefix <partner>/%s/", key, InboundDir), Class: "outside_prefix"}
	}
	if !partners(partner) {
		return Upload{}, &Ignored{Reason: fmt.Sprintf("key %q: %q is not a configured partner", key, partner), Class: "unknown_partner"}
	}
	dir, path, ok := strings.Cut(rest, "/")
	if !ok || dir != InboundDir || path == "" {
		return Upload{}, &Ignored{Reason: fmt.Sprintf("key %q is outside partner %s's upload folder %s/%s/", key, partner, partner, InboundDir), Class: "outside_inbound"}
	}
	lower := strings.ToLower(path)
	if r.Sidecars != nil && r.Sidecars(partner) && strings.HasSuffix(lower, ".sha256") {
		return Upload{}, &Ignored{Reason: fmt.Sprintf("key %q is a checksum sidecar, read by the workflow of %s", key, strings.TrimSuffix(key, key[len(key)-len(".sha256"):])), Class: "sidecar", Expected: true}
	}
	for _, sfx := range r.TemporarySuffixes {
		if strings.HasSuffix(lower, strings.ToLower(sfx)) {
			// The client renames it when the upload completes; that rename
			// arrives as its own event and is ingested.
			return Upload{}, &Ignored{Reason: fmt.Sprintf("key %q is a temporary upload name (%s): the final name will be ingested", key, sfx), Class: "temporary", Expected: true}
		}
	}
	return Upload{Partner: partner, Path: path}, nil
}
