//go:build linux

package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/understudy/understudy/spec"
)

// FuzzLoad feeds the loader arbitrary bytes. It must never panic, every
// error must be a *spec.Error, and a file it accepts must write out and load
// back as the same file.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "~", "[]", "children: []", "children: [{name: a, command: sleep}]",
		"x-a: &a {name: a, command: sleep}\nchildren: [*a, {<<: *a, name: b}]",
		"strategy: simple_one_for_one\ntemplate: {name: t, command: sleep}\ninstances: [[1], 2, []]",
		"children: [{name: a, command: sleep, ready_timeout: 5e-3s, backoff: none, stdout: ./x}]",
		"children: [{name: a, worker: wait, heartbeat: {interval: 1ms, timeout: 2ms}, state_size: 1KiB}]",
		"audio: {nodes: [{name: a, kind: sine, params: {freq: 1}}], edges: [a:0 -> a:0], output: {path: o.wav, ports: [a]}}",
		"children:\n  - name: n\n    supervisor:\n      children:\n        - {name: a, command: [sh, -c, 'exit 0']}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := spec.Parse("fuzz.yaml", data)
		if err != nil {
			for _, e := range unjoin(err) {
				var le *spec.Error
				if !errors.As(e, &le) {
					t.Fatalf("%T is not a *spec.Error: %v", e, e)
				}
			}
			return
		}
		out, err := spec.Marshal(file)
		if err != nil {
			t.Fatalf("a loaded file does not write out: %v\n%s", err, data)
		}
		again, err := spec.Parse("fuzz.yaml", out)
		if err != nil {
			t.Fatalf("a written file does not load: %v\n--- in\n%s\n--- out\n%s", err, data, out)
		}
		if !reflect.DeepEqual(file.Tree, again.Tree) || file.Name != again.Name ||
			!reflect.DeepEqual(file.Instances, again.Instances) || !reflect.DeepEqual(file.Audio, again.Audio) {
			t.Fatalf("round trip differs\n--- in\n%s\n--- out\n%s", data, out)
		}
	})
}
