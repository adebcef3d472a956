package supervision

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRestartZeroValueIsPermanent(t *testing.T) {
	var r Restart
	assert.Equal(t, Permanent, r.orDefault())
	assert.True(t, shouldRestart(r, true), "a permanent child restarts even after a clean exit")
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
		{"unknown crashed", Restart("always"), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, shouldRestart(tt.r, tt.cleanExit))
		})
	}
}

func TestShouldAutoShutdown(t *testing.T) {
	// exited is a significant child that terminated on its own, is not
	// restarted, and was the last significant child alive.
	exited := termination{significant: true}
	with := func(f func(*termination)) termination {
		t := exited
		f(&t)
		return t
	}
	tests := []struct {
		name string
		a    AutoShutdown
		t    termination
		want bool
	}{
		{"never", Never, exited, false},
		{"any: last significant child exited", AnySignificant, exited, true},
		{"any: others still alive", AnySignificant, with(func(t *termination) { t.significantAlive = 2 }), true},
		{"all: last significant child exited", AllSignificant, exited, true},
		{"all: others still alive", AllSignificant, with(func(t *termination) { t.significantAlive = 1 }), false},
		{"any: not significant", AnySignificant, with(func(t *termination) { t.significant = false }), false},
		{"all: not significant", AllSignificant, with(func(t *termination) { t.significant = false }), false},
		{"any: being restarted", AnySignificant, with(func(t *termination) { t.restarting = true }), false},
		{"all: being restarted", AllSignificant, with(func(t *termination) { t.restarting = true }), false},
		{"any: stopped by the supervisor", AnySignificant, with(func(t *termination) { t.bySupervisor = true }), false},
		{"all: stopped by the supervisor", AllSignificant, with(func(t *termination) { t.bySupervisor = true }), false},
		{"unknown mode", AutoShutdown("sometimes"), exited, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, shouldAutoShutdown(tt.a, tt.t))
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
			term := termination{significant: true, restarting: shouldRestart(tt.r, tt.cleanExit)}
			assert.Equal(t, tt.want, shouldAutoShutdown(AnySignificant, term))
		})
	}
}
