// Package anchor anchors the heads of Ferry's audit chains outside
// DynamoDB. The hash chain (internal/audit) proves that no entry was
// edited relative to its head, but whoever can write to the audit table
// can recompute a whole chain. So the heads — file ID, last sequence
// number, last hash — are written as signed objects into a bucket with S3
// Object Lock in COMPLIANCE mode, which nobody (the account's root
// included) can delete or overwrite until their retention ends, and a
// chain is checked against every anchor ever written for it: the
// anchored entry must still be in the chain with the anchored hash.
//
// Two kinds of object, one format (Document inside a sealed envelope):
//
//	anchors/files/<file ID>/<seq, 12 digits>.json   one file's head
//	anchors/checkpoints/<UTC time>.json             every head that changed in a period
//
// IngestFile writes its file's head at its final status; the
// ferry-audit-anchor schedule writes a checkpoint of the chains that
// changed since the previous checkpoint (chains still growing, like a
// quarantined file's, and heads whose final anchor could not be written),
// and a per-file object for each of those heads not yet anchored, so that
// a file's anchors are found by listing its own prefix. Each checkpoint
// names the previous one's key and SHA-256, so a checkpoint that went
// missing (a bucket without Object Lock, retention that ended) shows.
package anchor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferrydata/ferry/internal/hmacsig"
)

// Object key layout.
const (
	filesPrefix       = "anchors/files/"
	checkpointsPrefix = "anchors/checkpoints/"
	// checkpointTime names checkpoints so that they sort by time.
	checkpointTime = "2006-01-02T15-04-05.000000000Z"
)

// Kinds of anchor document.
const (
	KindFile       = "file"
	KindCheckpoint = "checkpoint"
)

// Head is the last entry of one file's audit chain.
type Head struct {
	FileID string `json:"fileId"`
	Seq    int64  `json:"seq"`
	Hash   string `json:"hash"`
}

// Link names an earlier anchor object by key and the SHA-256 of its body.
type Link struct {
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
}

// Document is what an anchor object states.
type Document struct {
	Format    int       `json:"format"` // 1
	Kind      string    `json:"kind"`
	WrittenAt time.Time `json:"writtenAt"`
	// By says what wrote it: the workflow of the file, or the schedule.
	By    string `json:"by"`
	Heads []Head `json:"heads"`
	// Checkpoint only: the period whose changes it covers, and the
	// previous checkpoint (nil for the first).
	Since    time.Time `json:"since,omitzero"`
	Until    time.Time `json:"until,omitzero"`
	Previous *Link     `json:"previous,omitempty"`
	// A file anchor written by a checkpoint names it.
	Checkpoint string `json:"checkpoint,omitempty"`
}

// envelope is the object's body: the document as written, its SHA-256
// and, with a key, its HMAC-SHA256 (internal/hmacsig's "sha256=<hex>").
// Both cover the raw document bytes, so nothing depends on re-encoding.
type envelope struct {
	Anchor    json.RawMessage `json:"anchor"`
	SHA256    string          `json:"sha256"`
	Signature string          `json:"signature,omitempty"`
}

// Seal encodes d as an object body, signed with key (unsigned when key
// is empty: hashed only).
func Seal(d Document, key []byte) ([]byte, error) {
	raw, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encoding the anchor: %w", err)
	}
	sum := sha256.Sum256(raw)
	env := envelope{Anchor: raw, SHA256: hex.EncodeToString(sum[:])}
	if len(key) > 0 {
		env.Signature = hmacsig.Sign(key, raw)
	}
	// Not MarshalIndent: it would re-indent the document, whose exact
	// bytes the hash and signature cover.
	return json.Marshal(env)
}

// Opened is a document read back, and how far it could be checked.
type Opened struct {
	Document
	// Signed: the body carries a signature; Authentic: it verified with
	// the key given to Open (false without one).
	Signed, Authentic bool
}

// ErrNotGenuine says an anchor object's body does not hold: its hash or
// signature does not match its content, or it is unsigned where anchors
// are signed.
var ErrNotGenuine = errors.New("the anchor object is not genuine")

// Open reads an object body written by Seal. With a key, the signature
// must verify; without one, only the SHA-256 is checked (Authentic stays
// false).
func Open(body, key []byte) (Opened, error) {
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Opened{}, fmt.Errorf("%w: not an anchor envelope: %v", ErrNotGenuine, err)
	}
	sum := sha256.Sum256(env.Anchor)
	if hex.EncodeToString(sum[:]) != strings.ToLower(env.SHA256) {
		return Opened{}, fmt.Errorf("%w: its content does not match its SHA-256 (edited after sealing)", ErrNotGenuine)
	}
	o := Opened{Signed: env.Signature != ""}
	if len(key) > 0 {
		if !o.Signed {
			return Opened{}, fmt.Errorf("%w: it is unsigned, but anchors are signed (audit.anchor.key): it was not written by Ferry", ErrNotGenuine)
		}
		if !hmacsig.Verify(key, env.Anchor, env.Signature) {
			return Opened{}, fmt.Errorf("%w: its signature does not verify with audit.anchor.key: it was not written by Ferry, or the key changed", ErrNotGenuine)
		}
		o.Authentic = true
	}
	if err := json.Unmarshal(env.Anchor, &o.Document); err != nil {
		return Opened{}, fmt.Errorf("%w: its document does not decode: %v", ErrNotGenuine, err)
	}
	if o.Format != 1 {
		return Opened{}, fmt.Errorf("%w: format %d is unknown to this build", ErrNotGenuine, o.Format)
	}
	return o, nil
}

// FileKey is where a file's head at seq is anchored.
func FileKey(fileID string, seq int64) string {
	return fmt.Sprintf("%s%s/%012d.json", filesPrefix, fileID, seq)
}

// filePrefix holds every anchor of one file.
func filePrefix(fileID string) string { return filesPrefix + fileID + "/" }

// CheckpointKey is where the checkpoint written at t goes.
func CheckpointKey(t time.Time) string {
	return checkpointsPrefix + t.UTC().Format(checkpointTime) + ".json"
}

// checkpointTimeOf parses the time out of a checkpoint key.
func checkpointTimeOf(key string) (time.Time, bool) {
	s, ok := strings.CutPrefix(key, checkpointsPrefix)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(checkpointTime, strings.TrimSuffix(s, ".json"))
	return t, err == nil
}

// sum is the hex SHA-256 of b.
func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
