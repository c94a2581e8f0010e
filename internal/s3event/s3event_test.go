package s3event

import (
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
