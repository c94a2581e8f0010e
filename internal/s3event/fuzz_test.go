package s3event

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no body makes the parser panic, and whatever it accepts is
// usable — every object has a bucket and a key, and every created object a
// version or an ETag to identify it by.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"landing"},"object":{"key":"a%2Fb+c","eTag":"x"}}}]}`))
	f.Add([]byte(`{"Event":"s3:TestEvent"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		objs, err := Parse(body)
		if err != nil {
			return
		}
		for _, o := range objs {
			if o.Bucket == "" || o.Key == "" {
				t.Fatalf("accepted an object without bucket or key: %+v", o)
			}
			if o.Created() && o.VersionID == "" && o.ETag == "" {
				t.Fatalf("accepted a created object with no version or ETag: %+v", o)
			}
		}
	})
}
