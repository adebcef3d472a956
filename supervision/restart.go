package supervision

import "fmt"

// Restart says when a terminated child is restarted. The zero value is
// Permanent, OTP's default.
type Restart int

const (
	// Permanent children are always restarted.
	Permanent Restart = iota
	// Transient children are restarted only if they exit abnormally.
	Transient
	// Temporary children are never restarted, not even when a sibling's
	// failure makes a OneForAll or RestForOne supervisor stop them.
	Temporary
)

var restarts = []Restart{Permanent, Transient, Temporary}

// String returns OTP's name for r, such as "permanent".
func (r Restart) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return fmt.Sprintf("Restart(%d)", int(r))
}

// ParseRestart returns the Restart named s, ignoring case. An unknown name
// is an error wrapping [ErrInvalid].
func ParseRestart(s string) (Restart, error) {
	return parseName("restart", s, restarts)
}

// ShouldRestart reports whether a child with restart type r that terminated
// on its own is restarted. cleanExit reports whether it exited normally: with
// status 0, or by an orderly shutdown (OTP's normal, shutdown and
// {shutdown, Term} exit reasons). Permanent children are always restarted,
// Transient ones unless the exit was clean, Temporary ones never. An unknown
// r is never restarted.
func ShouldRestart(r Restart, cleanExit bool) bool {
	switch r {
	case Permanent:
		return true
	case Transient:
		return !cleanExit
	}
	return false
}

// AutoShutdown says whether a supervisor shuts itself down when its
// significant children terminate. The zero value is Never, OTP's default.
//
// As in OTP, only Transient and Temporary children may be marked
// significant, only when the mode is not Never, and a SimpleOneForOne
// supervisor must use Never.
type AutoShutdown int

const (
	// Never: the supervisor does not shut itself down when children
	// terminate.
	Never AutoShutdown = iota
	// AnySignificant: the supervisor shuts down when any significant child
	// terminates on its own and is not restarted.
	AnySignificant
	// AllSignificant: the supervisor shuts down when the last significant
	// child still alive terminates on its own and is not restarted.
	AllSignificant
)

var autoShutdowns = []AutoShutdown{Never, AnySignificant, AllSignificant}

// String returns OTP's name for a, such as "any_significant".
func (a AutoShutdown) String() string {
	switch a {
	case Never:
		return "never"
	case AnySignificant:
		return "any_significant"
	case AllSignificant:
		return "all_significant"
	}
	return fmt.Sprintf("AutoShutdown(%d)", int(a))
}

// ParseAutoShutdown returns the AutoShutdown named s. It ignores case,
// underscores and hyphens, so "any_significant", "any-significant" and
// "AnySignificant" all name AnySignificant. An unknown name is an error
// wrapping [ErrInvalid].
func ParseAutoShutdown(s string) (AutoShutdown, error) {
	return parseName("auto shutdown", s, autoShutdowns)
}

// Termination describes a child that has just terminated, as
// [ShouldAutoShutdown] needs to know it.
type Termination struct {
	// Significant reports whether the child is marked significant.
	Significant bool
	// BySupervisor reports whether the supervisor stopped the child itself:
	// to restart a sibling, on request, or while shutting down. Such
	// terminations never trigger an automatic shutdown.
	BySupervisor bool
	// Restarting reports whether the child will be restarted (see
	// [ShouldRestart]).
	Restarting bool
	// SignificantAlive counts the other significant children that are still
	// running or waiting to be restarted.
	SignificantAlive int
}

// ShouldAutoShutdown reports whether a supervisor in mode a shuts itself
// down after the termination t, following OTP: only a significant child
// that terminated on its own and is not restarted counts; AnySignificant
// then shuts down, AllSignificant only if no other significant child is
// alive, and Never (or an unknown mode) never does.
func ShouldAutoShutdown(a AutoShutdown, t Termination) bool {
	if !t.Significant || t.BySupervisor || t.Restarting {
		return false
	}
	switch a {
	case AnySignificant:
		return true
	case AllSignificant:
		return t.SignificantAlive <= 0
	}
	return false
}
