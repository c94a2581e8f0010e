// Package kubeschema writes the JSON schemas kubeconform validates
// Kubernetes manifests against, because kubeconform cannot download them
// here. It does what yannh/kubernetes-json-schema's "-standalone-strict"
// folders hold (openapi2jsonschema --expanded --kubernetes --stand-alone
// --strict), from sources the Go module proxy serves:
//
//   - Kubernetes' own kinds from api/openapi-spec/swagger.json inside the
//     k8s.io/kubernetes module (FromOpenAPI);
//   - custom resources from their CustomResourceDefinition (FromCRDs), such
//     as the prometheus-operator's ServiceMonitor.
//
// Each kind becomes one standalone file, {kind}[-{group}]-{version}.json
// in lower case with the group's first segment (deployment-apps-v1.json,
// service-v1.json, servicemonitor-monitoring-v1.json), which kubeconform
// finds with
//
//	-schema-location 'DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json'
//
// What makes them strict, as openapi2jsonschema does it: every object
// schema that lists properties gets additionalProperties: false, so a
// misspelt field fails (kubeconform's -strict alone only refuses duplicate
// keys). Beside that: references are inlined (standalone files),
// IntOrString accepts a string or an integer, Quantity a string or a
// number, and an optional field may be null (as the API server accepts).
// Descriptions are left out: they validate nothing and would make the
// files several times larger.
package kubeschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The definitions that need a schema of their own rather than the
// spec's: both are written as strings in the spec, but the API server
// (and kubectl) accept numbers too ("port: 8080", "cpu: 1").
const (
	intOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	quantity    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
)

var (
	stringOrInteger = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
	stringOrNumber  = map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
)

// FileName is the file kubeconform looks for for kind in apiVersion
// group/version ("" for the core group).
func FileName(kind, group, version string) string {
	name := strings.ToLower(kind)
	if group != "" {
		name += "-" + strings.ToLower(strings.Split(group, ".")[0])
	}
	return name + "-" + strings.ToLower(version) + ".json"
}

// FromOpenAPI writes a schema for every kind an OpenAPI v2 spec (the
// Kubernetes swagger.json) defines with x-kubernetes-group-version-kind,
// into dir, and returns the files' names.
func FromOpenAPI(spec []byte, dir string) ([]string, error) {
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("reading the OpenAPI spec: %w", err)
	}
	if len(doc.Definitions) == 0 {
		return nil, errors.New("the OpenAPI spec has no definitions: is it a Kubernetes swagger.json (OpenAPI v2)?")
	}
	x := expander{defs: doc.Definitions}
	var written []string
	for _, name := range slices.Sorted(maps.Keys(doc.Definitions)) {
		def := doc.Definitions[name]
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		if len(gvks) == 0 {
			continue // a part of a kind, inlined where it is used
		}
		schema, err := x.expand(def, []string{name})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			kind, _ := gvk["kind"].(string)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			if kind == "" || version == "" {
				return nil, fmt.Errorf("%s: x-kubernetes-group-version-kind %v lacks a kind or version", name, gvk)
			}
			file := FileName(kind, group, version)
			if err := write(dir, file, strict(schema)); err != nil {
				return nil, err
			}
			written = append(written, file)
		}
	}
	return written, nil
}

// expander inlines the spec's $refs.
type expander struct {
	defs map[string]map[string]any
}

// expand returns a copy of s with every "#/definitions/..." reference
// replaced by the (expanded) definition. stack holds the definitions being
// expanded: where a definition recurs inside itself (JSONSchemaProps,
// inside CustomResourceDefinition) anything is accepted, as a standalone
// file cannot nest without end.
func (x expander) expand(s any, stack []string) (any, error) {
	switch v := s.(type) {
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name, found := strings.CutPrefix(ref, "#/definitions/")
			if !found {
				return nil, fmt.Errorf("reference %q is not to #/definitions/", ref)
			}
			switch {
			case name == intOrString:
				return stringOrInteger, nil
			case name == quantity:
				return stringOrNumber, nil
			case slices.Contains(stack, name):
				return map[string]any{}, nil
			}
			def, ok := x.defs[name]
			if !ok {
				return nil, fmt.Errorf("reference to %s, which the spec does not define", name)
			}
			return x.expand(def, append(stack, name))
		}
		if v["format"] == "int-or-string" {
			return stringOrInteger, nil
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			if k == "description" || k == "x-kubernetes-group-version-kind" {
				continue
			}
			var err error
			if k == "properties" {
				out[k], err = eachSchema(e, func(p any) (any, error) { return x.expand(p, stack) })
			} else {
				out[k], err = x.expand(e, stack)
			}
			if err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			ex, err := x.expand(e, stack)
			if err != nil {
				return nil, err
			}
			out[i] = ex
		}
		return out, nil
	}
	return s, nil
}

// strict returns a copy of s in which every object schema that lists
// properties refuses others (unless it says what others may be, or is a
// CRD's x-kubernetes-preserve-unknown-fields), and every optional
// property may be null.
func strict(s any) any {
	switch v := s.(type) {
	case map[string]any:
		out := make(map[string]any, len(v)+1)
		for k, e := range v {
			switch k {
			case "description":
			case "properties":
				out[k], _ = eachSchema(e, func(p any) (any, error) { return strict(p), nil })
			default:
				out[k] = strict(e)
			}
		}
		props, ok := out["properties"].(map[string]any)
		if !ok {
			return out
		}
		if _, set := out["additionalProperties"]; !set && out["x-kubernetes-preserve-unknown-fields"] != true {
			out["additionalProperties"] = false
		}
		required, _ := out["required"].([]any)
		for name, p := range props {
			if !slices.Contains(required, any(name)) {
				props[name] = nullable(p)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = strict(e)
		}
		return out
	}
	return s
}

// nullable lets a property's schema also accept null. Schemas are shared
// after expansion, so it returns a changed copy of the top level.
func nullable(p any) any {
	m, ok := p.(map[string]any)
	if !ok {
		return p
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = e
	}
	switch t := m["type"].(type) {
	case string:
		out["type"] = []any{t, "null"}
	case []any:
		if !slices.Contains(t, any("null")) {
			out["type"] = append(slices.Clone(t), "null")
		}
	case nil:
		for _, key := range []string{"oneOf", "anyOf"} {
			if alts, ok := m[key].([]any); ok {
				out[key] = append(slices.Clone(alts), map[string]any{"type": "null"})
			}
		}
	}
	return out
}

// eachSchema maps f over a "properties" object, whose keys are field
// names (one may well be "description" or "format"), not keywords.
func eachSchema(props any, f func(any) (any, error)) (any, error) {
	m, ok := props.(map[string]any)
	if !ok {
		return props, nil
	}
	out := make(map[string]any, len(m))
	for name, p := range m {
		var err error
		if out[name], err = f(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FromCRDs writes a schema for every version of every
// CustomResourceDefinition in a YAML stream (other documents are
// skipped) into dir, and returns the files' names.
func FromCRDs(manifest []byte, dir string) ([]string, error) {
	var written []string
	dec := yaml.NewDecoder(bytes.NewReader(manifest))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Group string `yaml:"group"`
				Names struct {
					Kind string `yaml:"kind"`
				} `yaml:"names"`
				Versions []struct {
					Name   string `yaml:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
					} `yaml:"schema"`
				} `yaml:"versions"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the CRD manifest: %w", err)
		}
		if doc.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range doc.Spec.Versions {
			if v.Schema.OpenAPIV3Schema == nil {
				return nil, fmt.Errorf("CRD %s version %s has no openAPIV3Schema to validate against", doc.Spec.Names.Kind, v.Name)
			}
			file := FileName(doc.Spec.Names.Kind, doc.Spec.Group, v.Name)
			if err := write(dir, file, strict(v.Schema.OpenAPIV3Schema)); err != nil {
				return nil, err
			}
			written = append(written, file)
		}
	}
	if len(written) == 0 {
		return nil, errors.New("the manifest holds no CustomResourceDefinition")
	}
	return written, nil
}

func write(dir, file string, schema any) error {
	m, ok := schema.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: the schema is not an object", file)
	}
	m["$schema"] = "http://json-schema.org/draft-07/schema#"
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
		return fmt.Errorf("writing schema: %w", err)
	}
	return nil
}
