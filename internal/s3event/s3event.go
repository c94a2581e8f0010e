// Package s3event parses S3 event notifications into the object versions
// they announce. It accepts every shape such a notification reaches Ferry
// in, detected per document:
//
//   - the plain S3 notification ({"Records": [...]}), as S3 sends it to SQS
//     or SNS, and MinIO's webhook body, which wraps the same records as
//     {"EventName", "Key", "Records"};
//   - an EventBridge event from source aws.s3 ("Object Created" and the
//     other S3 detail types);
//   - either of those wrapped in an SNS envelope ({"Type": "Notification",
//     "Message": "<the document as a string>"}), as an SNS topic without raw
//     message delivery puts it on an SQS queue.
//
// Documents are decoded with aws-lambda-go's events types. Object keys are
// URL-decoded as S3 encodes them in both notification formats.
package s3event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
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
	// SourceIP is the address the write came from (S3 records:
	// requestParameters.sourceIPAddress; EventBridge: source-ip-address).
	SourceIP string
	// RequestID is S3's ID of the request that wrote the object (S3
	// records: responseElements["x-amz-request-id"]; EventBridge:
	// request-id), what AWS support and CloudTrail know the write by.
	RequestID string
	// Via says which shape announced the object: "s3" (S3 or MinIO
	// notification records), "eventbridge", "sns/s3" or "sns/eventbridge".
	Via string
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

// body is the union of the top-level fields of the documents Parse
// accepts; which of them are set tells the shape apart.
type body struct {
	// EventName and Key are MinIO's webhook wrapper fields; the records
	// carry the same information, so they are only used for error text.
	EventName string            `json:"EventName"`
	Key       string            `json:"Key"`
	Records   []json.RawMessage `json:"Records"`
	// Event is set on AWS's s3:TestEvent message.
	Event string `json:"Event"`
	// Type and Message are set on an SNS envelope.
	Type    string `json:"Type"`
	Message string `json:"Message"`
	// DetailType and Source are set on an EventBridge event.
	DetailType string `json:"detail-type"`
	Source     string `json:"source"`
}

// eventBridgeDetail is the detail of an S3 event delivered by EventBridge
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html);
// aws-lambda-go has the envelope but not this detail.
type eventBridgeDetail struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key       string `json:"key"`
		Size      int64  `json:"size"`
		ETag      string `json:"etag"`
		VersionID string `json:"version-id"`
		Sequencer string `json:"sequencer"`
	} `json:"object"`
	Requester string `json:"requester"`
	SourceIP  string `json:"source-ip-address"`
	RequestID string `json:"request-id"`
	// Reason is the API call behind an "Object Created" event.
	Reason string `json:"reason"`
}

// createdReasons maps an "Object Created" reason to the S3 notification
// event name for the same write, so both formats route alike.
var createdReasons = map[string]string{
	"PutObject":               "ObjectCreated:Put",
	"POST Object":             "ObjectCreated:Post",
	"CopyObject":              "ObjectCreated:Copy",
	"CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
}

// ErrTestEvent is returned for the s3:TestEvent message S3 sends when a
// notification is configured: it announces nothing and is to be acknowledged.
var ErrTestEvent = errors.New("s3:TestEvent announces no object")

// Parse decodes a notification body. It fails as a whole, with a message
// saying what was wrong, when the body or any record is malformed: a
// partial parse would silently drop a file.
func Parse(data []byte) ([]Object, error) {
	return parse(data, "")
}

// parse decodes one document; outer names the envelope it came in ("sns")
// or is empty at the top.
func parse(data []byte, outer string) ([]Object, error) {
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
	via := func(shape string) string {
		if outer != "" {
			return outer + "/" + shape
		}
		return shape
	}
	switch {
	case b.Event == "s3:TestEvent":
		return nil, ErrTestEvent
	case b.Type != "" && len(b.Records) == 0:
		return parseSNS(data, b, outer)
	case b.DetailType != "" || b.Source != "":
		return parseEventBridge(data, via("eventbridge"))
	case len(b.Records) == 0:
		return nil, errors.New(`body has no "Records": expected an S3 event notification {"Records": [...]}, an EventBridge S3 event or either in an SNS envelope`)
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
			SourceIP:  r.RequestParameters.SourceIPAddress,
			RequestID: r.ResponseElements["x-amz-request-id"],
			Via:       via("s3"),
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

// parseSNS unwraps an SNS envelope: its Message is the S3 or EventBridge
// document as a string.
func parseSNS(data []byte, b body, outer string) ([]Object, error) {
	if outer != "" {
		return nil, errors.New("an SNS envelope inside an SNS envelope is not an S3 event notification")
	}
	var env events.SNSEntity
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("SNS envelope: %w", err)
	}
	if env.Type != "Notification" {
		return nil, fmt.Errorf("SNS message of type %q is not a notification (a SubscriptionConfirmation is confirmed by the queue subscription, not sent to Ferry)", env.Type)
	}
	if strings.TrimSpace(env.Message) == "" {
		return nil, fmt.Errorf("SNS notification %s has an empty Message", env.MessageID)
	}
	objs, err := parse([]byte(env.Message), "sns")
	if err != nil && !errors.Is(err, ErrTestEvent) {
		return nil, fmt.Errorf("SNS notification %s from %s: Message: %w", env.MessageID, env.TopicArn, err)
	}
	return objs, err
}

// parseEventBridge decodes an EventBridge event from source aws.s3.
func parseEventBridge(data []byte, via string) ([]Object, error) {
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("EventBridge event: %w", err)
	}
	if ev.Source != "aws.s3" {
		return nil, fmt.Errorf("EventBridge event %s is from source %q, not aws.s3: route only S3 events to Ferry", ev.ID, ev.Source)
	}
	if ev.DetailType == "" {
		return nil, fmt.Errorf("EventBridge event %s has no detail-type", ev.ID)
	}
	var d eventBridgeDetail
	if len(ev.Detail) == 0 {
		return nil, fmt.Errorf("EventBridge event %s has no detail", ev.ID)
	}
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		return nil, fmt.Errorf("EventBridge event %s: detail: %w", ev.ID, err)
	}
	name := "EventBridge:" + ev.DetailType
	if ev.DetailType == "Object Created" {
		n, ok := createdReasons[d.Reason]
		if !ok {
			return nil, fmt.Errorf("EventBridge event %s: Object Created with unknown reason %q (want PutObject, POST Object, CopyObject or CompleteMultipartUpload)", ev.ID, d.Reason)
		}
		name = n
	}
	// Keys are URL-encoded as in S3 notifications ("a b+c" arrives as
	// "a+b%2Bc").
	key, err := url.QueryUnescape(d.Object.Key)
	if err != nil {
		return nil, fmt.Errorf("EventBridge event %s: detail.object.key %q is not URL-encoded as S3 sends it: %w", ev.ID, d.Object.Key, err)
	}
	o := Object{
		EventName: name,
		EventTime: ev.Time,
		Bucket:    d.Bucket.Name,
		Key:       key,
		VersionID: d.Object.VersionID,
		ETag:      d.Object.ETag,
		Sequencer: d.Object.Sequencer,
		Size:      d.Object.Size,
		Principal: d.Requester,
		SourceIP:  d.SourceIP,
		RequestID: d.RequestID,
		Via:       via,
	}
	switch {
	case o.Bucket == "":
		return nil, fmt.Errorf("EventBridge event %s: detail.bucket.name is missing", ev.ID)
	case d.Object.Key == "":
		return nil, fmt.Errorf("EventBridge event %s: detail.object.key is missing", ev.ID)
	case o.Created() && o.VersionID == "" && o.ETag == "":
		return nil, fmt.Errorf("EventBridge event %s: detail.object has neither version-id nor etag, so the object version cannot be identified", ev.ID)
	}
	return []Object{o}, nil
}
