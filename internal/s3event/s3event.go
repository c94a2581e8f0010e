// Package s3event parses S3 event notifications into the object versions
// they announce. It accepts the plain S3 notification document
// ({"Records": [...]}) and MinIO's webhook body, which wraps the same
// records as {"EventName", "Key", "Records"}. Records are decoded with
// aws-lambda-go's events types, which also URL-decode the object key as S3
// encodes it.
package s3event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Object is one object version an event announces.
type Object struct {
	EventName string
	EventTime time.Time
	Bucket    string
	// Key is URL-decoded: the object's real name.
	Key       string
	VersionID string
	ETag      string
	Sequencer string
	Size      int64
	// Principal is who wrote the object, as S3 reports it (MinIO: the
	// access key, which is the partner's login).
	Principal string
}

// Created reports whether the event announces a new object version with
// new content: a put, a POST upload, a completed multipart upload, or a
// copy (a rename over SFTP arrives as a copy). AWS names these
// "ObjectCreated:Put", MinIO "s3:ObjectCreated:Put". MinIO also reports
// tagging and retention changes as s3:ObjectCreated:PutTagging and the
// like; those change no bytes and are not uploads.
func (o Object) Created() bool {
	switch strings.TrimPrefix(o.EventName, "s3:") {
	case "ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy", "ObjectCreated:CompleteMultipartUpload":
		return true
	}
	return false
}

// body is the union of the documents Parse accepts.
type body struct {
	// EventName and Key are MinIO's webhook wrapper fields; the records
	// carry the same information, so they are only used for error text.
	EventName string            `json:"EventName"`
	Key       string            `json:"Key"`
	Records   []json.RawMessage `json:"Records"`
	// Event is set on AWS's s3:TestEvent message.
	Event string `json:"Event"`
}

// ErrTestEvent is returned for the s3:TestEvent message S3 sends when a
// notification is configured: it announces nothing and is to be acknowledged.
var ErrTestEvent = errors.New("s3:TestEvent announces no object")

// Parse decodes a notification body. It fails as a whole, with a message
// saying what was wrong, when the body or any record is malformed: a
// partial parse would silently drop a file.
func Parse(data []byte) ([]Object, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("body is empty: expected an S3 event notification {\"Records\": [...]}")
	}
	var b body
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("body is not an S3 event notification JSON object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("body has data after the JSON object: send one notification per request")
	}
	if b.Event == "s3:TestEvent" {
		return nil, ErrTestEvent
	}
	if len(b.Records) == 0 {
		return nil, errors.New(`body has no "Records": expected an S3 event notification {"Records": [...]}`)
	}
	objs := make([]Object, 0, len(b.Records))
	for i, raw := range b.Records {
		var r events.S3EventRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, fmt.Errorf("Records[%d]: %w (object keys must be URL-encoded as S3 sends them)", i, err)
		}
		o := Object{
			EventName: r.EventName,
			EventTime: r.EventTime,
			Bucket:    r.S3.Bucket.Name,
			Key:       r.S3.Object.URLDecodedKey,
			VersionID: r.S3.Object.VersionID,
			ETag:      r.S3.Object.ETag,
			Sequencer: r.S3.Object.Sequencer,
			Size:      r.S3.Object.Size,
			Principal: r.PrincipalID.PrincipalID,
		}
		switch {
		case o.EventName == "":
			return nil, fmt.Errorf("Records[%d]: eventName is missing", i)
		case o.Bucket == "":
			return nil, fmt.Errorf("Records[%d]: s3.bucket.name is missing", i)
		case r.S3.Object.Key == "":
			return nil, fmt.Errorf("Records[%d]: s3.object.key is missing", i)
		case o.Created() && o.VersionID == "" && o.ETag == "":
			return nil, fmt.Errorf("Records[%d]: s3.object has neither versionId nor eTag, so the object version cannot be identified", i)
		}
		objs = append(objs, o)
	}
	return objs, nil
}
