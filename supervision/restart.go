package supervision

// Restart says when a terminated child is restarted. Its values are OTP's
// names, the words of the spec file; the zero value means Permanent,
// OTP's default.
type Restart string

const (
	// Permanent children are always restarted.
	Permanent Restart = "permanent"
	// Transient children are restarted only if they exit abnormally.
	Transient Restart = "transient"
	// Temporary children are never restarted, not even when a sibling's
	// failure makes a OneForAll or RestForOne supervisor stop them.
	Temporary Restart = "temporary"
)

var restarts = []Restart{Permanent, Transient, Temporary}

// orDefault returns r, or Permanent for the zero value.
func (r Restart) orDefault() Restart {
	if r == "" {
		return Permanent
	}
	return r
}

// shouldRestart reports whether a child with restart type r that
// terminated on its own is restarted. cleanExit reports whether it exited
// normally: with status 0, or by an orderly shutdown (OTP's normal,
// shutdown and {shutdown, Term} exit reasons). Permanent children are
// always restarted, Transient ones unless the exit was clean, Temporary
// ones never. An unknown r is never restarted.
func shouldRestart(r Restart, cleanExit bool) bool {
	switch r.orDefault() {
	case Permanent:
		return true
	case Transient:
		return !cleanExit
	}
	return false
}

// AutoShutdown says whether a supervisor shuts itself down when its
// significant children terminate. Its values are OTP's names, the words of
// the spec file; the zero value means Never, OTP's default.
//
// As in OTP, only Transient and Temporary children may be marked
// significant, only when the mode is not Never, and a SimpleOneForOne
// supervisor must use Never.
type AutoShutdown string

const (
	// Never: the supervisor does not shut itself down when children
	// terminate.
	Never AutoShutdown = "never"
	// AnySignificant: the supervisor shuts down when any significant child
	// terminates on its own and is not restarted.
	AnySignificant AutoShutdown = "any_significant"
	// AllSignificant: the supervisor shuts down when the last significant
	// child still alive terminates on its own and is not restarted.
	AllSignificant AutoShutdown = "all_significant"
)

var autoShutdowns = []AutoShutdown{Never, AnySignificant, AllSignificant}

// orDefault returns a, or Never for the zero value.
func (a AutoShutdown) orDefault() AutoShutdown {
	if a == "" {
		return Never
	}
	return a
}

// termination describes a child that has just terminated, as
// shouldAutoShutdown needs to know it.
type termination struct {
	// significant reports whether the child is marked significant.
	significant bool
	// bySupervisor reports whether the supervisor stopped the child
	// itself: to restart a sibling, on request, or while shutting down.
	// Such terminations never trigger an automatic shutdown.
	bySupervisor bool
	// restarting reports whether the child will be restarted (see
	// shouldRestart).
	restarting bool
	// significantAlive counts the other significant children that are
	// still running or waiting to be restarted.
	significantAlive int
}

// shouldAutoShutdown reports whether a supervisor in mode a shuts itself
// down after the termination t, following OTP: only a significant child
// that terminated on its own and is not restarted counts; AnySignificant
// then shuts down, AllSignificant only if no other significant child is
// alive, and Never (or an unknown mode) never does.
func shouldAutoShutdown(a AutoShutdown, t termination) bool {
	if !t.significant || t.bySupervisor || t.restarting {
		return false
	}
	switch a {
	case AnySignificant:
		return true
	case AllSignificant:
		return t.significantAlive <= 0
	}
	return false
}
