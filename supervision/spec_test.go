//go:build linux

package supervision_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

func TestSpecValidate(t *testing.T) {
	w := proc("wait")
	nested := func(cs ...supervision.ChildSpec) *supervision.Spec { return &supervision.Spec{Children: cs} }
	tests := []struct {
		name  string
		spec  supervision.Spec
		field string // of the first error; "" means valid
		value string
	}{
		{"valid", supervision.Spec{Children: children("a", "b")}, "", ""},
		{"valid nested", supervision.Spec{Children: []supervision.ChildSpec{{Name: "n", Supervisor: nested(children("a")...)}}}, "", ""},
		{"valid default intensity", supervision.Spec{Intensity: supervision.Intensity{}, Children: children("a")}, "", ""},
		{"valid no restarts", supervision.Spec{Intensity: supervision.Intensity{MaxRestarts: supervision.NoRestarts}, Children: children("a")}, "", ""},
		{"no children", supervision.Spec{}, "", ""},
		{"no children, one_for_all", supervision.Spec{Strategy: supervision.OneForAll}, "", ""},
		{"no children, rest_for_one", supervision.Spec{Strategy: supervision.RestForOne, AutoShutdown: supervision.AnySignificant}, "", ""},
		{"empty name", supervision.Spec{Children: []supervision.ChildSpec{{Process: w}}}, "Children[0].Name", `""`},
		{"duplicate name", supervision.Spec{Children: children("a", "b", "a")}, "Children[2].Name", `"a"`},
		{"slash in name", supervision.Spec{Children: children("a/b")}, "Children[0].Name", `"a/b"`},
		{"dollar name", supervision.Spec{Children: children("$1")}, "Children[0].Name", `"$1"`},
		{"zero period", supervision.Spec{Intensity: supervision.Intensity{MaxRestarts: 3}, Children: children("a")}, "Intensity.Period", "0s"},
		{"negative period", supervision.Spec{Intensity: supervision.Intensity{MaxRestarts: 3, Period: -time.Second}, Children: children("a")}, "Intensity.Period", "-1s"},
		{"bad max restarts", supervision.Spec{Intensity: supervision.Intensity{MaxRestarts: -5, Period: time.Second}, Children: children("a")}, "Intensity.MaxRestarts", "-5"},
		{"unknown strategy", supervision.Spec{Strategy: "all_for_one", Children: children("a")}, "Strategy", `"all_for_one"`},
		{"unknown auto shutdown", supervision.Spec{AutoShutdown: "sometimes", Children: children("a")}, "AutoShutdown", `"sometimes"`},
		{"no program", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a"}}}, "Children[0].Process", "nil"},
		{"process and supervisor", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: w, Supervisor: nested(children("b")...)}}}, "Children[0].Supervisor", "set"},
		{"bad process spec", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: proc("no-such-worker")}}}, "Children[0].Process.Worker", `"no-such-worker"`},
		{"nested, no children", supervision.Spec{Children: []supervision.ChildSpec{{Name: "n", Supervisor: nested()}}}, "", ""},
		{"nested duplicate", supervision.Spec{Children: []supervision.ChildSpec{{Name: "n", Supervisor: nested(children("x", "x")...)}}}, "Children[0].Supervisor.Children[1].Name", `"x"`},
		{"nested supervisor killed brutally", supervision.Spec{Children: []supervision.ChildSpec{{Name: "n", Supervisor: nested(children("x")...), Shutdown: supervision.BrutalKill}}}, "Children[0].Shutdown", "BrutalKill"},
		{"process with infinity", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: w, Shutdown: supervision.Infinity}}}, "Children[0].Shutdown", "Infinity"},
		{"negative grace", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: w, Shutdown: -time.Second}}}, "Children[0].Shutdown", "-1s"},
		{"unknown restart", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: w, Restart: "always"}}}, "Children[0].Restart", `"always"`},
		{"too many spares", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: w, Standby: 15}}}, "Children[0].Standby", "15"},
		{"significant permanent", supervision.Spec{AutoShutdown: supervision.AnySignificant, Children: []supervision.ChildSpec{{Name: "a", Process: w, Significant: true}}}, "Children[0].Significant", "true"},
		{"significant without auto shutdown", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: w, Restart: supervision.Transient, Significant: true}}}, "Children[0].Significant", "true"},
		{"bad backoff", supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: w, Backoff: supervision.Backoff{Jitter: 2}}}}, "Children[0].Backoff.Jitter", "2"},
		{"valid remote subtree", supervision.Spec{Children: []supervision.ChildSpec{{Name: "n", Supervisor: nested(children("x")...), Nodes: []string{"a", "b"}}}}, "", ""},
		{"nodes inside a remote subtree", supervision.Spec{Children: []supervision.ChildSpec{{Name: "n", Supervisor: nested(supervision.ChildSpec{Name: "x", Process: w, Nodes: []string{"c"}}), Nodes: []string{"a"}}}}, "Children[0].Supervisor.Children[0].Nodes", "[1 nodes]"},
		{"simple_one_for_one with two templates", supervision.Spec{Strategy: supervision.SimpleOneForOne, Children: children("a", "b")}, "Children", "[2 specs]"},
		{"simple_one_for_one without template", supervision.Spec{Strategy: supervision.SimpleOneForOne}, "Children", "[]"},
		{"simple_one_for_one supervisor template", supervision.Spec{Strategy: supervision.SimpleOneForOne, Children: []supervision.ChildSpec{{Name: "n", Supervisor: nested(children("x")...)}}}, "Children[0].Supervisor", "set"},
		{"simple_one_for_one auto shutdown", supervision.Spec{Strategy: supervision.SimpleOneForOne, AutoShutdown: supervision.AnySignificant, Children: children("a")}, "AutoShutdown", `"any_significant"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, supervision.ErrInvalid)
			var se *procbridge.SpecError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.field, se.Field, "%v", err)
			assert.Equal(t, tt.value, se.Value)
			assert.NotEmpty(t, se.Reason)
			assert.Contains(t, err.Error(), "supervision: invalid value: "+tt.field+" = "+tt.value+": ")

			// Start refuses the same spec, before starting anything.
			tree, startErr := supervision.Start(ctxT(t), tt.spec, supervision.Options{})
			assert.Nil(t, tree)
			assert.ErrorAs(t, startErr, &se)
		})
	}
}

func TestSpecValidateReportsEveryField(t *testing.T) {
	spec := supervision.Spec{
		Strategy:  "one-for-one",
		Intensity: supervision.Intensity{MaxRestarts: 2},
		Children:  []supervision.ChildSpec{{Name: ""}, {Name: "b", Process: proc("wait")}, {Name: "b", Process: proc("wait")}},
	}
	err := spec.Validate()
	var fields []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var se *procbridge.SpecError
		require.True(t, errors.As(e, &se))
		fields = append(fields, se.Field)
	}
	assert.Equal(t, []string{"Strategy", "Intensity.Period", "Children[0].Name", "Children[0].Process", "Children[2].Name"}, fields)
}

func TestChildSpecValidate(t *testing.T) {
	assert.NoError(t, (&supervision.ChildSpec{Name: "a", Process: proc("wait")}).Validate())
	err := (&supervision.ChildSpec{Name: "a", Process: &procbridge.Spec{Worker: "wait", StopGrace: -1}}).Validate()
	var se *procbridge.SpecError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "Process.StopGrace", se.Field)
}

func TestStartRejectsBadRootName(t *testing.T) {
	_, err := supervision.Start(ctxT(t), supervision.Spec{Children: children("a")}, supervision.Options{Name: "a/b"})
	var se *procbridge.SpecError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "Options.Name", se.Field)
}

// TestZeroValuesAreTheDefaults: a spec that sets no enum is valid, and its
// words name the defaults.
func TestZeroValuesAreTheDefaults(t *testing.T) {
	spec := supervision.Spec{Children: []supervision.ChildSpec{{Name: "a", Process: proc("wait")}}}
	require.NoError(t, spec.Validate())
	for _, s := range []supervision.Spec{
		{Strategy: supervision.OneForOne, AutoShutdown: supervision.Never, Children: []supervision.ChildSpec{{Name: "a", Process: proc("wait"), Restart: supervision.Permanent}}},
	} {
		require.NoError(t, s.Validate(), "the defaults written out")
	}
	assert.Equal(t, supervision.StateBackingOff, supervision.ChildState("backing off"))
}
