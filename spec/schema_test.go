//go:build linux

package spec_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/understudy/understudy/spec"
)

// TestSchema checks docs/spec-schema.json against the loader: every valid
// file of testdata/ and the example validate against it, and files with
// an unknown key, a bad name or a missing key do not. The checker below
// knows the keywords the schema uses, no more.
func TestSchema(t *testing.T) {
	raw, err := os.ReadFile("../docs/spec-schema.json")
	require.NoError(t, err)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(raw, &schema))
	s := &schemaChecker{root: schema}

	files, err := filepath.Glob("testdata/*.yaml")
	require.NoError(t, err)
	files = append(files, "../examples/declarative/tree.yaml", "../examples/cluster/cluster.yaml", "../examples/cluster/subtree.yaml")
	for _, name := range files {
		if strings.HasPrefix(filepath.Base(name), "bad") {
			continue
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			data, err := os.ReadFile(name)
			require.NoError(t, err)
			if !strings.Contains(name, "examples") {
				_, err = spec.Parse(name, data)
				require.NoError(t, err, "the loader takes it")
			}
			assert.NoError(t, s.check(schema, yamlValue(t, data), "$"))
		})
	}
	for _, good := range []string{
		"children: []",
		"children: [{name: pool, supervisor: {children: []}}]",
	} {
		assert.NoError(t, s.check(schema, yamlValue(t, []byte(good)), "$"), good)
		_, err := spec.Parse("t.yaml", []byte(good))
		assert.NoError(t, err, good)
	}
	for _, bad := range []string{
		"children: [{name: a, command: sleep, restrat: transient}]",
		"strategy: round_robin\nchildren: [{name: a, command: sleep}]",
		"children: [{name: a/b, command: sleep}]",
		"children: [{command: sleep}]",
		"children: [{name: a, command: sleep, worker: w}]",
		"children: [{name: a}]",
		"children: [{name: a, command: sleep, ready_timeout: 5}]",
		"children: [{name: a, command: sleep, ready_timeout: 5 ms}]",
		"children: [{name: a, command: sleep, shutdown: -1s}]",
		"children: [{name: a, command: sleep, stdout: inherti}]",
		"children: [{name: a, command: sleep, state_size: 4KB}]",
		"children: [{name: a, worker: w, heartbeat: {interval: 1ms}}]",
		"intensity: {max_restarts: -1}\nchildren: [{name: a, command: sleep}]",
		"audio: {nodes: [{name: a, kind: sine, params: {freq: 440}}], block_size: 100}",
		"audio: {nodes: [{name: a, kind: sine, params: {freq: 440}}], edges: ['a => b']}",
		"name: app",
	} {
		err := s.check(schema, yamlValue(t, []byte(bad)), "$")
		assert.Error(t, err, "the schema takes %q", bad)
		_, lerr := spec.Parse("t.yaml", []byte(bad))
		assert.Error(t, lerr, "the loader takes %q", bad)
	}
}

func yamlValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	require.NoError(t, yaml.Unmarshal(data, &v))
	return normalize(v)
}

// normalize turns yaml.v3's values into JSON's: map[string]any, []any,
// float64 for every number.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return v
}

type schemaChecker struct{ root map[string]any }

// check reports where v breaks schema s: type, enum, const, properties,
// patternProperties, additionalProperties, required, items, minItems,
// minimum, maximum, minLength, pattern, allOf, anyOf, oneOf, not, $ref.
func (c *schemaChecker) check(s map[string]any, v any, at string) error {
	if ref, ok := s["$ref"].(string); ok {
		def := strings.TrimPrefix(ref, "#/$defs/")
		sub, ok := c.root["$defs"].(map[string]any)[def].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: no $defs/%s", at, def)
		}
		if err := c.check(sub, v, at); err != nil {
			return err
		}
	}
	if ty, ok := s["type"]; ok && !typeMatches(ty, v) {
		return fmt.Errorf("%s: %v is not of type %v", at, v, ty)
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return equal(e, v) }) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	if cst, ok := s["const"]; ok && !equal(cst, v) {
		return fmt.Errorf("%s: %v is not %v", at, v, cst)
	}
	switch x := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		patterns, _ := s["patternProperties"].(map[string]any)
		for k, e := range x {
			matched := false
			if p, ok := props[k].(map[string]any); ok {
				matched = true
				if err := c.check(p, e, at+"."+k); err != nil {
					return err
				}
			}
			for pat, p := range patterns {
				if regexp.MustCompile(pat).MatchString(k) {
					matched = true
					if err := c.check(p.(map[string]any), e, at+"."+k); err != nil {
						return err
					}
				}
			}
			if !matched {
				switch ap := s["additionalProperties"].(type) {
				case bool:
					if !ap {
						return fmt.Errorf("%s: unknown key %q", at, k)
					}
				case map[string]any:
					if err := c.check(ap, e, at+"."+k); err != nil {
						return err
					}
				}
			}
		}
		if req, ok := s["required"].([]any); ok {
			for _, r := range req {
				if _, ok := x[r.(string)]; !ok {
					return fmt.Errorf("%s: missing %q", at, r)
				}
			}
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range x {
				if err := c.check(items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
		if m, ok := s["minItems"].(float64); ok && float64(len(x)) < m {
			return fmt.Errorf("%s: fewer than %v items", at, m)
		}
	case float64:
		if m, ok := s["minimum"].(float64); ok && x < m {
			return fmt.Errorf("%s: %v below %v", at, x, m)
		}
		if m, ok := s["maximum"].(float64); ok && x > m {
			return fmt.Errorf("%s: %v above %v", at, x, m)
		}
	case string:
		if m, ok := s["minLength"].(float64); ok && float64(len([]rune(x))) < m {
			return fmt.Errorf("%s: %q shorter than %v", at, x, m)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			return fmt.Errorf("%s: %q does not match %s", at, x, p)
		}
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if err := c.check(sub.(map[string]any), v, at); err != nil {
				return err
			}
		}
	}
	if anyOf, ok := s["anyOf"].([]any); ok {
		var errs []string
		for _, sub := range anyOf {
			err := c.check(sub.(map[string]any), v, at)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err.Error())
		}
		if errs != nil {
			return fmt.Errorf("%s: none of anyOf: %s", at, strings.Join(errs, "; "))
		}
	}
	if oneOf, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, sub := range oneOf {
			if c.check(sub.(map[string]any), v, at) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: %d of oneOf match, want 1", at, n)
		}
	}
	if not, ok := s["not"].(map[string]any); ok && c.check(not, v, at) == nil {
		return fmt.Errorf("%s: %v matches a not", at, v)
	}
	return nil
}

func typeMatches(ty, v any) bool {
	if list, ok := ty.([]any); ok {
		return slices.ContainsFunc(list, func(t any) bool { return typeMatches(t, v) })
	}
	switch ty {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	}
	return false
}

func equal(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// TestSchemaBoundsAreTheOwners checks every numeric bound that
// docs/spec-schema.json states by hand against the loader, whose bounds
// are the owners' (supervision's and audio's Validate): the bound itself
// loads, one past it does not. A bound changed in code and not in the
// schema fails here.
func TestSchemaBoundsAreTheOwners(t *testing.T) {
	raw, err := os.ReadFile("../docs/spec-schema.json")
	require.NoError(t, err)
	var schema map[string]any
	require.NoError(t, json.Unmarshal(raw, &schema))
	// prop walks the schema's objects by key.
	prop := func(path ...string) map[string]any {
		var v any = schema
		for _, k := range path {
			m, ok := v.(map[string]any)
			require.True(t, ok, "schema path %v at %q", path, k)
			v = m[k]
		}
		m, ok := v.(map[string]any)
		require.True(t, ok, "schema path %v", path)
		return m
	}
	const worker = "children: [{name: a, command: sleep, args: ['60'], sdk: true, state_size: 64, standby: %d}]"
	cases := []struct {
		name string
		spec map[string]any
		yaml string // a file with one %d
	}{
		{"standby", prop("$defs", "child", "properties", "standby"), worker},
		{"max_restarts", prop("$defs", "intensity", "properties", "max_restarts"),
			"intensity: {max_restarts: %d, period: 5s}\nchildren: [{name: a, command: sleep}]"},
		{"audio.slack", prop("$defs", "audio", "properties", "slack"),
			"audio: {nodes: [{name: a, kind: sine, params: {freq: 440}}], slack: %d}"},
		{"audio.standby", prop("$defs", "audio", "properties", "standby"),
			"audio: {nodes: [{name: a, kind: sine, params: {freq: 440}}], standby: %d}"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			load := func(n int) error {
				_, err := spec.Parse("t.yaml", []byte(fmt.Sprintf(c.yaml, n)))
				return err
			}
			if lo, ok := c.spec["minimum"].(float64); ok {
				assert.NoError(t, load(int(lo)), "the schema's minimum %v", lo)
				assert.Error(t, load(int(lo)-1), "one below the schema's minimum %v", lo)
			}
			hi, ok := c.spec["maximum"].(float64)
			require.True(t, ok, "the schema states a maximum")
			assert.NoError(t, load(int(hi)), "the schema's maximum %v", hi)
			assert.Error(t, load(int(hi)+1), "one past the schema's maximum %v", hi)
		})
	}
	sizes := prop("$defs", "audio", "properties", "block_size")["enum"].([]any)
	for _, s := range sizes {
		_, err := spec.Parse("t.yaml", []byte(fmt.Sprintf("audio: {nodes: [{name: a, kind: sine, params: {freq: 440}}], block_size: %v}", s)))
		assert.NoError(t, err, "block_size %v, in the schema's list", s)
	}
	for _, s := range []int{8, 8192, 100} {
		_, err := spec.Parse("t.yaml", []byte(fmt.Sprintf("audio: {nodes: [{name: a, kind: sine, params: {freq: 440}}], block_size: %d}", s)))
		assert.Error(t, err, "block_size %d, not in the schema's list", s)
	}
}
