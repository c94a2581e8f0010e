package activities

import (
	"net/url"
	"strings"
	"testing"
)

// S3 servers decode x-amz-copy-source differently: as a path (MinIO) or
// as a query string, where '+' is a space (versitygw). The header must name
// the same key to both.
func TestCopySourceNamesTheKeyToEveryDecoder(t *testing.T) {
	for _, key := range []string{
		"acme/inbound/orders.csv",
		"acme/inbound/sub dir/Résumé+1.csv",
		"acme/inbound/a+b=c&d;e,f@g$h:i.csv",
		"acme/inbound/100% sure?.csv",
	} {
		f := FileRef{Bucket: "landing", Key: key, VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"}
		src := copySource(f)
		path, version, ok := strings.Cut(src, "?versionId=")
		if !ok {
			t.Fatalf("copySource(%q) = %q names no version", key, src)
		}
		if v, err := url.QueryUnescape(version); err != nil || v != f.VersionID {
			t.Errorf("copySource(%q) = %q: version decodes to %q (%v), want %q", key, src, v, err, f.VersionID)
		}
		for name, decode := range map[string]func(string) (string, error){"path": url.PathUnescape, "query": url.QueryUnescape} {
			got, err := decode(path)
			if err != nil || got != "landing/"+key {
				t.Errorf("copySource(%q) = %q: decoded as a %s it is %q (%v), want landing/%s", key, src, name, got, err, key)
			}
		}
	}
	if got := copySource(FileRef{Bucket: "landing", Key: "a/b.csv", VersionID: "null"}); got != "landing/a/b.csv" {
		t.Errorf("an unversioned source is %q, want no versionId", got)
	}
}
