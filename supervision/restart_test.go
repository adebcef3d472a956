package supervision

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRestartString(t *testing.T) {
	tests := []struct {
		r    Restart
		want string
	}{
		{Permanent, "permanent"},
		{Transient, "transient"},
		{Temporary, "temporary"},
		{Restart(7), "Restart(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.r.String())
		})
	}
}

func TestRestartZeroValueIsPermanent(t *testing.T) {
	var r Restart
	assert.Equal(t, Permanent, r)
}

func TestParseRestart(t *testing.T) {
	tests := []struct {
		in   string
		want Restart
	}{
		{"permanent", Permanent},
		{"Permanent", Permanent},
		{"transient", Transient},
		{"TRANSIENT", Transient},
		{"temporary", Temporary},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRestart(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseRestartRejectsUnknownNames(t *testing.T) {
	for _, in := range []string{"", "always", "perm"} {
		t.Run(in, func(t *testing.T) {
			_, err := ParseRestart(in)
			require.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, "restart")
			assert.ErrorContains(t, err, `"`+in+`"`)
		})
	}
}

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		name      string
		r         Restart
		cleanExit bool
		want      bool
	}{
		{"permanent crashed", Permanent, false, true},
		{"permanent exited cleanly", Permanent, true, true},
		{"transient crashed", Transient, false, true},
		{"transient exited cleanly", Transient, true, false},
		{"temporary crashed", Temporary, false, false},
		{"temporary exited cleanly", Temporary, true, false},
		{"unknown crashed", Restart(9), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ShouldRestart(tt.r, tt.cleanExit))
		})
	}
}

func TestAutoShutdownString(t *testing.T) {
	tests := []struct {
		a    AutoShutdown
		want string
	}{
		{Never, "never"},
		{AnySignificant, "any_significant"},
		{AllSignificant, "all_significant"},
		{AutoShutdown(3), "AutoShutdown(3)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.a.String())
		})
	}
}

func TestParseAutoShutdown(t *testing.T) {
	tests := []struct {
		in   string
		want AutoShutdown
	}{
		{"never", Never},
		{"any_significant", AnySignificant},
		{"any-significant", AnySignificant},
		{"AnySignificant", AnySignificant},
		{"all_significant", AllSignificant},
		{"ALL-SIGNIFICANT", AllSignificant},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAutoShutdown(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseAutoShutdownRejectsUnknownNames(t *testing.T) {
	for _, in := range []string{"", "always", "some_significant"} {
		t.Run(in, func(t *testing.T) {
			_, err := ParseAutoShutdown(in)
			require.ErrorIs(t, err, ErrInvalid)
			assert.ErrorContains(t, err, "auto shutdown")
			assert.ErrorContains(t, err, `"`+in+`"`)
		})
	}
}

func TestShouldAutoShutdown(t *testing.T) {
	// exited is a significant child that terminated on its own, is not
	// restarted, and was the last significant child alive.
	exited := Termination{Significant: true}
	with := func(f func(*Termination)) Termination {
		t := exited
		f(&t)
		return t
	}
	tests := []struct {
		name string
		a    AutoShutdown
		t    Termination
		want bool
	}{
		{"never", Never, exited, false},
		{"any: last significant child exited", AnySignificant, exited, true},
		{"any: others still alive", AnySignificant, with(func(t *Termination) { t.SignificantAlive = 2 }), true},
		{"all: last significant child exited", AllSignificant, exited, true},
		{"all: others still alive", AllSignificant, with(func(t *Termination) { t.SignificantAlive = 1 }), false},
		{"any: not significant", AnySignificant, with(func(t *Termination) { t.Significant = false }), false},
		{"all: not significant", AllSignificant, with(func(t *Termination) { t.Significant = false }), false},
		{"any: being restarted", AnySignificant, with(func(t *Termination) { t.Restarting = true }), false},
		{"all: being restarted", AllSignificant, with(func(t *Termination) { t.Restarting = true }), false},
		{"any: stopped by the supervisor", AnySignificant, with(func(t *Termination) { t.BySupervisor = true }), false},
		{"all: stopped by the supervisor", AllSignificant, with(func(t *Termination) { t.BySupervisor = true }), false},
		{"unknown mode", AutoShutdown(5), exited, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ShouldAutoShutdown(tt.a, tt.t))
		})
	}
}

// TestShouldAutoShutdownFollowsShouldRestart walks the OTP cases: a
// significant transient child shuts the supervisor down when it exits
// cleanly (it is not restarted) but not when it crashes (it is); a
// significant temporary child does in both cases.
func TestShouldAutoShutdownFollowsShouldRestart(t *testing.T) {
	tests := []struct {
		name      string
		r         Restart
		cleanExit bool
		want      bool
	}{
		{"transient exited cleanly", Transient, true, true},
		{"transient crashed", Transient, false, false},
		{"temporary exited cleanly", Temporary, true, true},
		{"temporary crashed", Temporary, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term := Termination{Significant: true, Restarting: ShouldRestart(tt.r, tt.cleanExit)}
			assert.Equal(t, tt.want, ShouldAutoShutdown(AnySignificant, term))
		})
	}
}

func FuzzParseRestart(f *testing.F) {
	for _, r := range restarts {
		f.Add(r.String())
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := ParseRestart(in)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		again, err := ParseRestart(r.String())
		require.NoError(t, err)
		require.Equal(t, r, again)
	})
}

func FuzzParseAutoShutdown(f *testing.F) {
	for _, a := range autoShutdowns {
		f.Add(a.String())
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := ParseAutoShutdown(in)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalid)
			return
		}
		again, err := ParseAutoShutdown(a.String())
		require.NoError(t, err)
		require.Equal(t, a, again)
	})
}
