package deploy

// EventBridge's event pattern matching, for the parts of the syntax
// Ferry's rule may use, so the tests can run the rule's pattern over the
// very fixtures internal/s3event parses. (Quamina, a Go matcher of
// EventBridge patterns, is not on the module proxy here.) An operator this
// does not know is an error, never a silent match.
//
// The rules, from EventBridge's documentation: every field of the pattern
// must match; a nested object matches the event's object at that field;
// an array lists alternatives, one of which must match the event's value
// (or, for an array in the event, one of its elements); a missing field
// matches only {"exists": false}.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// matchEventPattern reports whether the event (JSON) matches the pattern (JSON).
func matchEventPattern(pattern, event []byte) (bool, error) {
	var p map[string]any
	if err := json.Unmarshal(pattern, &p); err != nil {
		return false, fmt.Errorf("event pattern: %w", err)
	}
	var e map[string]any
	if err := json.Unmarshal(event, &e); err != nil {
		return false, fmt.Errorf("event: %w", err)
	}
	return matchObject(p, e, "")
}

func matchObject(p, e map[string]any, path string) (bool, error) {
	for field, want := range p {
		got, present := e[field]
		at := path + "." + field
		switch w := want.(type) {
		case map[string]any:
			sub, ok := got.(map[string]any)
			if !present || !ok {
				return false, nil
			}
			if ok, err := matchObject(w, sub, at); !ok || err != nil {
				return false, err
			}
		case []any:
			ok, err := matchAlternatives(w, got, present, at)
			if !ok || err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("pattern %s: a field's value must be an object or an array of alternatives, got %v", at, want)
		}
	}
	return true, nil
}

func matchAlternatives(alts []any, got any, present bool, at string) (bool, error) {
	values := []any{got}
	if arr, ok := got.([]any); ok {
		values = arr
	}
	for _, alt := range alts {
		for _, v := range values {
			ok, err := matchOne(alt, v, present, at)
			if err != nil || ok {
				return ok, err
			}
		}
	}
	return false, nil
}

func matchOne(alt, v any, present bool, at string) (bool, error) {
	op, isOp := alt.(map[string]any)
	if !isOp {
		return present && v == alt, nil // literal: same JSON value (strings, numbers, booleans, null)
	}
	if len(op) != 1 {
		return false, fmt.Errorf("pattern %s: a content filter has exactly one operator, got %v", at, op)
	}
	for name, arg := range op {
		s, isString := v.(string)
		switch name {
		case "exists":
			b, ok := arg.(bool)
			if !ok {
				return false, fmt.Errorf("pattern %s: exists takes true or false", at)
			}
			return present == b, nil
		case "prefix":
			a, ok := arg.(string)
			return ok && present && isString && strings.HasPrefix(s, a), nil
		case "suffix":
			a, ok := arg.(string)
			return ok && present && isString && strings.HasSuffix(s, a), nil
		case "equals-ignore-case":
			a, ok := arg.(string)
			return ok && present && isString && strings.EqualFold(s, a), nil
		case "anything-but":
			if !present {
				return false, nil
			}
			excluded := []any{arg}
			if list, ok := arg.([]any); ok {
				excluded = list
			}
			for _, x := range excluded {
				if _, nested := x.(map[string]any); nested {
					return false, fmt.Errorf("pattern %s: anything-but with an operator inside is not supported by deploy/eventpattern_test.go", at)
				}
				if x == v {
					return false, nil
				}
			}
			return true, nil
		default:
			return false, fmt.Errorf("pattern %s: operator %q is not supported by deploy/eventpattern_test.go: teach it, with a test", at, name)
		}
	}
	return false, nil
}

func TestEventPatternMatcher(t *testing.T) {
	event := `{"source":"aws.s3","detail":{"bucket":{"name":"landing"},"object":{"key":"acme/inbound/a.csv","size":5},"tags":["x","y"]}}`
	for _, tt := range []struct {
		pattern string
		want    bool
		err     string
	}{
		{`{"source":["aws.s3"]}`, true, ""},
		{`{"source":["aws.ec2","aws.s3"]}`, true, ""},
		{`{"source":["aws.ec2"]}`, false, ""},
		{`{"detail":{"bucket":{"name":["landing"]}}}`, true, ""},
		{`{"detail":{"bucket":{"name":["other"]}}}`, false, ""},
		{`{"detail":{"object":{"key":[{"prefix":"acme/"}]}}}`, true, ""},
		{`{"detail":{"object":{"key":[{"prefix":"globex/"}]}}}`, false, ""},
		{`{"detail":{"object":{"key":[{"suffix":".csv"}]}}}`, true, ""},
		{`{"detail":{"object":{"size":[5]}}}`, true, ""},
		{`{"detail":{"object":{"size":["5"]}}}`, false, ""},
		{`{"detail":{"tags":["y"]}}`, true, ""},
		{`{"detail":{"object":{"etag":[{"exists":false}]}}}`, true, ""},
		{`{"detail":{"object":{"etag":[{"exists":true}]}}}`, false, ""},
		{`{"detail":{"object":{"etag":["x"]}}}`, false, ""},
		{`{"source":[{"anything-but":["aws.ec2"]}]}`, true, ""},
		{`{"source":[{"anything-but":"aws.s3"}]}`, false, ""},
		{`{"source":[{"equals-ignore-case":"AWS.S3"}]}`, true, ""},
		{`{"source":[{"wildcard":"aws.*"}]}`, false, `operator "wildcard" is not supported`},
		{`{"source":"aws.s3"}`, false, "must be an object or an array"},
	} {
		got, err := matchEventPattern([]byte(tt.pattern), []byte(event))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: error %v, want %q", tt.pattern, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %v, %v; want %v", tt.pattern, got, err, tt.want)
		}
	}
}
