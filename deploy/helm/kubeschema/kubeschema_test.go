package kubeschema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// schemaAt reads a written schema and follows path (keys) into it.
func schemaAt(t *testing.T, dir, file string, path ...string) any {
	t.Helper()
	var s any
	if err := json.Unmarshal(read(t, filepath.Join(dir, file)), &s); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, k := range path {
		m, ok := s.(map[string]any)
		if !ok {
			t.Fatalf("%s: no %v (stopped at %s)", file, path, k)
		}
		s = m[k]
	}
	return s
}

func TestFileNamesAreKubeconformsLayout(t *testing.T) {
	for _, c := range []struct{ kind, group, version, want string }{
		{"Deployment", "apps", "v1", "deployment-apps-v1.json"},
		{"Service", "", "v1", "service-v1.json"},
		{"HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscaler-autoscaling-v2.json"},
		{"ServiceMonitor", "monitoring.coreos.com", "v1", "servicemonitor-monitoring-v1.json"},
	} {
		if got := FileName(c.kind, c.group, c.version); got != c.want {
			t.Errorf("FileName(%s, %s, %s) = %s, want %s", c.kind, c.group, c.version, got, c.want)
		}
	}
}

func TestFromOpenAPIWritesStrictStandaloneSchemas(t *testing.T) {
	dir := t.TempDir()
	files, err := FromOpenAPI(read(t, "testdata/swagger.json"), dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if want := []string{"gadget-v1.json", "widget-example-v1.json"}; !slices.Equal(files, want) {
		t.Fatalf("wrote %v, want one file per kind: %v", files, want)
	}
	spec := []string{"properties", "spec"}
	for _, c := range []struct {
		path []string
		want any
	}{
		// Objects with properties refuse others, at every level.
		{[]string{"additionalProperties"}, false},
		{append(spec, "additionalProperties"), false},
		{[]string{"properties", "metadata", "additionalProperties"}, false},
		// A map keeps its own rule.
		{append(spec, "properties", "labels", "additionalProperties"), map[string]any{"type": "string"}},
		// Required stays required (not nullable); optional may be null.
		{[]string{"properties", "spec", "type"}, "object"},
		{append(spec, "properties", "replicas", "type"), []any{"integer", "null"}},
		{append(spec, "properties", "size", "oneOf"), []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}},
		{append(spec, "properties", "port", "oneOf"), []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}, map[string]any{"type": "null"}}},
		// A field named like a keyword is a field; descriptions are gone.
		{append(spec, "properties", "description", "type"), []any{"string", "null"}},
		{[]string{"description"}, nil},
		{[]string{"properties", "apiVersion", "description"}, nil},
		// A type that contains itself accepts anything where it recurs.
		{append(spec, "properties", "child"), map[string]any{}},
		{[]string{"$schema"}, "http://json-schema.org/draft-07/schema#"},
	} {
		if got := schemaAt(t, dir, "widget-example-v1.json", c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("widget-example-v1.json %v = %#v, want %#v", c.path, got, c.want)
		}
	}
	if b := read(t, filepath.Join(dir, "widget-example-v1.json")); strings.Contains(string(b), "$ref") {
		t.Error("a reference is left: the schema is not standalone")
	}
}

func TestFromCRDsWritesStrictSchemasAndLeavesPreservedFieldsOpen(t *testing.T) {
	dir := t.TempDir()
	files, err := FromCRDs(read(t, "testdata/crd.yaml"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sprocket-monitoring-v1.json"}; !slices.Equal(files, want) {
		t.Fatalf("wrote %v, want %v", files, want)
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"additionalProperties"}, false},
		{[]string{"properties", "spec", "additionalProperties"}, false},
		{[]string{"properties", "spec", "properties", "selector", "type"}, "object"},
		{[]string{"properties", "spec", "properties", "selector", "additionalProperties"}, false},
		{[]string{"properties", "spec", "properties", "extra", "additionalProperties"}, nil},
		{[]string{"properties", "metadata", "additionalProperties"}, nil},
	} {
		if got := schemaAt(t, dir, files[0], c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s %v = %#v, want %#v", files[0], c.path, got, c.want)
		}
	}
	if _, err := FromCRDs([]byte("kind: ConfigMap\n"), dir); err == nil {
		t.Error("a manifest without a CRD gave no error")
	}
}
