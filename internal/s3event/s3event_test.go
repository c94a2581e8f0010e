package s3event

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A body MinIO posted to the bridge after `put` over SFTP, captured from
// the local stack: the key's é, space (+) and plus (%2B) are URL-encoded.
func TestParseMinIOWebhookBody(t *testing.T) {
	objs, err := Parse(fixture(t, "minio-sftp-put.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 {
		t.Fatalf("got %d objects, want 1", len(objs))
	}
	o := objs[0]
	want := Object{
		EventName: "s3:ObjectCreated:CompleteMultipartUpload",
		EventTime: time.Date(2026, 11, 24, 6, 6, 32, 872e6, time.UTC),
		Bucket:    "landing",
		Key:       "acme/inbound/Résumé 2026+final.csv",
		VersionID: "2e5dd852-7db6-46c5-829a-5922026f8827",
		ETag:      "9d93678ec9837b94ed1d301aa908a2a9-1",
		Sequencer: "18EAE618270F3387",
		Size:      15,
		Principal: "acme",
		SourceIP:  "127.0.0.1",
		RequestID: "18EAE6182707631D",
		Via:       "s3",
	}
	if !o.EventTime.Equal(want.EventTime) {
		t.Errorf("event time %v, want %v", o.EventTime, want.EventTime)
	}
	o.EventTime = want.EventTime
	if o != want {
		t.Errorf("got %+v\nwant %+v", o, want)
	}
	if !o.Created() {
		t.Error("CompleteMultipartUpload must count as a created object")
	}
}

func TestParseMinIOFolderMarker(t *testing.T) {
	objs, err := Parse(fixture(t, "minio-sftp-mkdir.json"))
	if err != nil {
		t.Fatal(err)
	}
	if objs[0].Key != "acme/inbound/batch-7/" || objs[0].Size != 0 || objs[0].VersionID != "null" {
		t.Errorf("folder marker parsed as %+v", objs[0])
	}
}

func TestParseAWSNotification(t *testing.T) {
	objs, err := Parse(fixture(t, "aws-s3-put.json"))
	if err != nil {
		t.Fatal(err)
	}
	o := objs[0]
	if o.Key != "globex/inbound/2026/11/batch=7.xml" || o.VersionID != "096fKKXTRTtl3on89fVO.nfljtsv6qko" || !o.Created() {
		t.Errorf("got %+v", o)
	}
}

func TestCreated(t *testing.T) {
	for name, want := range map[string]bool{
		"ObjectCreated:Put": true, "s3:ObjectCreated:Copy": true, "ObjectCreated:CompleteMultipartUpload": true,
		"s3:ObjectRemoved:Delete": false, "ObjectRestore:Completed": false, "s3:ObjectAccessed:Get": false,
		"s3:ObjectCreated:PutTagging": false, "s3:ObjectCreated:PutRetention": false, "s3:ObjectCreated:PutLegalHold": false,
		"s3:ObjectCreated:Post": true,
	} {
		if got := (Object{EventName: name}).Created(); got != want {
			t.Errorf("Created(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseRefusesMalformedBodies(t *testing.T) {
	good := string(fixture(t, "aws-s3-put.json"))
	tests := []struct {
		name, body, want string
	}{
		{"empty", "  ", "body is empty"},
		{"not json", "key=acme/x.csv", "not an S3 event notification JSON object"},
		{"array", `[{"Records":[]}]`, "not an S3 event notification JSON object"},
		{"no records", `{"EventName":"s3:ObjectCreated:Put"}`, `no "Records"`},
		{"trailing data", good + `{"Records":[]}`, "data after the JSON object"},
		{"bad key encoding", strings.Replace(good, "batch%3D7", "batch%ZZ7", 1), "Records[0]"},
		{"no bucket", strings.Replace(good, `"name": "landing"`, `"name": ""`, 1), "s3.bucket.name is missing"},
		{"no key", strings.Replace(good, `"globex/inbound/2026/11/batch%3D7.xml"`, `""`, 1), "s3.object.key is missing"},
		{"no event name", strings.Replace(good, `"ObjectCreated:Put"`, `""`, 1), "eventName is missing"},
		{"no version or etag", strings.NewReplacer(`"096fKKXTRTtl3on89fVO.nfljtsv6qko"`, `""`, `"d41d8cd98f00b204e9800998ecf8427e"`, `""`).Replace(good), "neither versionId nor eTag"},
		{"wrong type", strings.Replace(good, `"size": 1024`, `"size": "big"`, 1), "Records[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseTestEvent(t *testing.T) {
	_, err := Parse([]byte(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-20T09:00:00.000Z","Bucket":"landing","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw"}`))
	if !errors.Is(err, ErrTestEvent) {
		t.Fatalf("got %v, want ErrTestEvent", err)
	}
}

// The three shapes an SQS queue can carry announce the same object alike.
func TestParseEverySQSMessageShape(t *testing.T) {
	eb := Object{
		EventName: "ObjectCreated:Put",
		EventTime: time.Date(2026, 11, 20, 9, 14, 3, 0, time.UTC),
		Bucket:    "landing",
		Key:       "acme/inbound/Q4 report+final.csv",
		VersionID: "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
		ETag:      "b1946ac92492d2347c6235b4d2611184",
		Sequencer: "617f08299329d189",
		Size:      5,
		Principal: "123456789012",
		SourceIP:  "1.2.3.4",
		RequestID: "N4N7GDK58NMKJ12R",
	}
	tests := []struct {
		file, via string
		want      Object
	}{
		{"aws-eventbridge-object-created.json", "eventbridge", eb},
		{"aws-sns-eventbridge-object-created.json", "sns/eventbridge", eb},
		{"aws-sns-s3-put.json", "sns/s3", Object{
			EventName: "ObjectCreated:Put", EventTime: time.Date(2026, 11, 20, 9, 14, 3, 123e6, time.UTC),
			Bucket: "landing", Key: "globex/inbound/2026/11/batch=7.xml", VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko",
			ETag: "d41d8cd98f00b204e9800998ecf8427e", Sequencer: "0055AED6DCD90281E5", Size: 1024, Principal: "AWS:AIDAEXAMPLE",
			SourceIP: "203.0.113.10", RequestID: "C3D13FE58DE4C810",
		}},
		{"aws-s3-put.json", "s3", Object{
			EventName: "ObjectCreated:Put", EventTime: time.Date(2026, 11, 20, 9, 14, 3, 123e6, time.UTC),
			Bucket: "landing", Key: "globex/inbound/2026/11/batch=7.xml", VersionID: "096fKKXTRTtl3on89fVO.nfljtsv6qko",
			ETag: "d41d8cd98f00b204e9800998ecf8427e", Sequencer: "0055AED6DCD90281E5", Size: 1024, Principal: "AWS:AIDAEXAMPLE",
			SourceIP: "203.0.113.10", RequestID: "C3D13FE58DE4C810",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			objs, err := Parse(fixture(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) != 1 {
				t.Fatalf("got %d objects, want 1", len(objs))
			}
			got, want := objs[0], tt.want
			want.Via = tt.via
			if !got.EventTime.Equal(want.EventTime) {
				t.Errorf("event time %v, want %v", got.EventTime, want.EventTime)
			}
			got.EventTime = want.EventTime
			if got != want {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			if !got.Created() {
				t.Error("not counted as a created object")
			}
		})
	}
}

func TestParseEventBridgeReasonsAndOtherDetailTypes(t *testing.T) {
	created := string(fixture(t, "aws-eventbridge-object-created.json"))
	for reason, want := range map[string]string{
		"PutObject": "ObjectCreated:Put", "POST Object": "ObjectCreated:Post",
		"CopyObject": "ObjectCreated:Copy", "CompleteMultipartUpload": "ObjectCreated:CompleteMultipartUpload",
	} {
		objs, err := Parse([]byte(strings.Replace(created, `"reason": "PutObject"`, `"reason": "`+reason+`"`, 1)))
		if err != nil || objs[0].EventName != want || !objs[0].Created() {
			t.Errorf("reason %s: got %+v, %v; want event %s", reason, objs, err, want)
		}
	}
	objs, err := Parse(fixture(t, "aws-eventbridge-object-deleted.json"))
	if err != nil {
		t.Fatal(err)
	}
	if objs[0].Created() || objs[0].EventName != "EventBridge:Object Deleted" || objs[0].Key != "acme/inbound/old.csv" {
		t.Errorf("Object Deleted parsed as %+v; want a non-created event", objs[0])
	}
}

func TestParseRefusesMalformedEnvelopes(t *testing.T) {
	eb := string(fixture(t, "aws-eventbridge-object-created.json"))
	sns := string(fixture(t, "aws-sns-s3-put.json"))
	tests := []struct {
		name, body, want string
	}{
		{"eventbridge from another source", strings.Replace(eb, `"aws.s3"`, `"aws.ec2"`, 1), `not aws.s3`},
		{"eventbridge without detail", `{"detail-type":"Object Created","source":"aws.s3","id":"x"}`, "has no detail"},
		{"eventbridge unknown reason", strings.Replace(eb, `"PutObject"`, `"Teleport"`, 1), `unknown reason "Teleport"`},
		{"eventbridge no bucket", strings.Replace(eb, `"name": "landing"`, `"name": ""`, 1), "detail.bucket.name is missing"},
		{"eventbridge bad key", strings.Replace(eb, "Q4+report", "Q4%ZZreport", 1), "not URL-encoded"},
		{"eventbridge no version", strings.NewReplacer(`"IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"`, `""`, `"b1946ac92492d2347c6235b4d2611184"`, `""`).Replace(eb), "neither version-id nor etag"},
		{"sns subscription confirmation", `{"Type":"SubscriptionConfirmation","MessageId":"m","Message":"You have chosen to subscribe","SubscribeURL":"https://example"}`, "not a notification"},
		{"sns empty message", `{"Type":"Notification","MessageId":"m1","Message":""}`, "empty Message"},
		{"sns garbage message", `{"Type":"Notification","MessageId":"m2","TopicArn":"arn:t","Message":"hello"}`, "SNS notification m2 from arn:t: Message: body is not an S3 event notification"},
		{"sns in sns", `{"Type":"Notification","MessageId":"m3","Message":` + strconvQuote(sns) + `}`, "inside an SNS envelope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestParseTestEventInSNS(t *testing.T) {
	if _, err := Parse(fixture(t, "aws-sns-s3-testevent.json")); !errors.Is(err, ErrTestEvent) {
		t.Fatalf("got %v, want ErrTestEvent", err)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
