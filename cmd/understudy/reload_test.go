package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/spec"
)

// TestDiffTrees: what a reload finds to do, one row per kind of change.
func TestDiffTrees(t *testing.T) {
	const base = `
children:
  - {name: a, command: sleep, args: [1]}
  - name: nest
    supervisor:
      strategy: one_for_all
      children:
        - {name: x, command: sleep, args: [1]}
        - {name: y, command: sleep, args: [1]}
  - name: pool
    supervisor:
      strategy: simple_one_for_one
      template: {name: conn, command: sleep, args: [1]}
      instances: 2
`
	for _, c := range []struct {
		name, from, to string
		want           []string // "kind path", in order
		diff           []string // of the first change
	}{
		{"nothing", base, base, nil, nil},
		{"a child's args", base, strings.Replace(base, "{name: a, command: sleep, args: [1]}", "{name: a, command: sleep, args: [2]}", 1),
			[]string{"changed a"}, []string{`- args: ["1"]`, `+ args: ["2"]`}},
		{"a nested child, the rest left", base, strings.Replace(base, "{name: y, command: sleep, args: [1]}", "{name: y, command: sleep, args: [1], shutdown: 3s}", 1),
			[]string{"changed nest/y"}, []string{"+ shutdown: 3s"}},
		{"a nested supervisor's own settings: all of it", base, strings.Replace(base, "one_for_all", "rest_for_one", 1),
			[]string{"changed nest"}, []string{"-   strategy: one_for_all", "+   strategy: rest_for_one"}},
		{"added and removed", base, strings.Replace(base, "{name: x, command: sleep, args: [1]}", "{name: z, command: sleep, args: [1]}", 1),
			[]string{"removed nest/x", "added nest/z"}, nil},
		{"a template's instances: the whole pool", base, strings.Replace(base, "instances: 2", "instances: 3", 1),
			[]string{"changed pool"}, []string{"-   instances: 2", "+   instances: 3"}},
		{"a child moved: not a change", base, strings.Replace(base, "  - {name: a, command: sleep, args: [1]}\n", "", 1) + "  - {name: a, command: sleep, args: [1]}\n",
			nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			from, err := spec.Parse("tree.yaml", []byte(c.from))
			require.NoError(t, err)
			to, err := spec.Parse("tree.yaml", []byte(c.to))
			require.NoError(t, err)
			changes, err := diffTrees(from, to, from.Tree, to.Tree, nil)
			require.NoError(t, err)
			var got []string
			for _, ch := range changes {
				got = append(got, ch.kind+" "+strings.Join(ch.names, "/"))
			}
			assert.Equal(t, c.want, got)
			if c.diff != nil {
				assert.Equal(t, c.diff, changes[0].diff)
			}
		})
	}
}

// TestRootText: the root's own settings, which a reload does not apply.
func TestRootText(t *testing.T) {
	from, err := spec.Parse("tree.yaml", []byte("intensity: {max_restarts: 3, period: 10s}\nchildren:\n  - {name: a, command: sleep}\n"))
	require.NoError(t, err)
	to, err := spec.Parse("tree.yaml", []byte("intensity: {max_restarts: 4, period: 10s}\nchildren:\n  - {name: b, command: sleep}\n"))
	require.NoError(t, err)
	a, err := rootText(from)
	require.NoError(t, err)
	b, err := rootText(to)
	require.NoError(t, err)
	assert.Equal(t, []string{"- intensity: {max_restarts: 3, period: 10s}", "+ intensity: {max_restarts: 4, period: 10s}"}, lineDiff(a, b), "the children are not the root's settings")
}
