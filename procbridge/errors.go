package procbridge

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotSupported: this operating system or kernel lacks what the
	// operation needs.
	ErrNotSupported = errors.New("procbridge: not supported on this system")
	// ErrStartTimeout: the worker did not say it was ready in time; it was
	// killed.
	ErrStartTimeout = errors.New("procbridge: start timeout")
	// ErrExitedBeforeReady: the worker ended before it said it was ready.
	ErrExitedBeforeReady = errors.New("procbridge: exited before ready")
	// ErrBadSpec: a Spec field cannot work (see *SpecError).
	ErrBadSpec = errors.New("procbridge: bad spec")
	// ErrBadSegment: the worker refused its shared-memory segment, or
	// something read from a segment cannot be right.
	ErrBadSegment = errors.New("procbridge: bad segment")
	// ErrHung: the worker stopped beating (see *HangError).
	ErrHung = errors.New("procbridge: hung")
)

// SpecError names a field that cannot work, its value and why. It is the
// one field error of every layer's specs: a procbridge.Spec's (Err nil:
// it matches ErrBadSpec), a supervision.Spec's, an audio.Graph's or
// audio.Config's (Err is that package's sentinel). Field is a path from
// the value being checked, such as "Children[1].Process.Heartbeat.Timeout".
type SpecError struct {
	Field  string
	Value  string // as written in Go, such as "2ms" or `"web"`; empty when missing
	Reason string
	Err    error // the sentinel it matches; nil means ErrBadSpec
}

// Error returns "<sentinel>: <field> = <value>: <reason>", such as
// "procbridge: bad spec: Heartbeat.Timeout = 2ms: must be above
// Heartbeat.Interval (5ms)", leaving out " = <value>" when Value is empty.
func (e *SpecError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%v: %s: %s", e.Unwrap(), e.Field, e.Reason)
	}
	return fmt.Sprintf("%v: %s = %s: %s", e.Unwrap(), e.Field, e.Value, e.Reason)
}

// Unwrap returns Err, or ErrBadSpec when Err is nil.
func (e *SpecError) Unwrap() error {
	if e.Err == nil {
		return ErrBadSpec
	}
	return e.Err
}

// ExitError is the end of a process that is a failure: anything but a clean
// exit or a stop that was asked for.
type ExitError struct {
	Name string
	Pid  int
	Exit Exit

	cause error // why the bridge killed it, when it did for a violation
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("procbridge: %s (pid %d) %s", e.Name, e.Pid, e.Exit.String())
}

// Unwrap lets a hang-kill match ErrHung, an early death match
// ErrExitedBeforeReady, and a kill for breaking the segment's protocol
// match ErrBadSegment.
func (e *ExitError) Unwrap() error {
	switch e.Exit.Kind {
	case ExitKilledHung:
		return ErrHung
	case ExitNotReady:
		return ErrExitedBeforeReady
	case ExitKilledViolation:
		if e.cause != nil {
			return e.cause
		}
		return ErrBadSegment
	}
	return nil
}

// HangError describes a worker that stopped beating.
type HangError struct {
	Name    string
	Pid     int
	Silence time.Duration // since the last beat, when confirmed
	Timeout time.Duration
	Starved time.Duration // time it was held up (waiting for a CPU, or in the kernel) while suspect
	// Kind is what the hang monitor saw when it confirmed the hang:
	//
	//   - "asleep": no thread of the worker runnable and no CPU used
	//     through the confirmation window. It waits for something that
	//     does not come (a lock, a read), or it is stopped.
	//   - "spinning": it ran on a CPU through the window without beating.
	//   - "held up": it was kept from running (waiting for a CPU on a busy
	//     machine, or blocked in the kernel) and stayed silent past the
	//     cap of silence the monitor grants such a worker: ten timeouts,
	//     and at least 250 ms. It may be healthy, on a machine that cannot
	//     run it.
	//   - "triggered": a child that speaks sd_notify sent WATCHDOG=trigger.
	Kind string
}

// The kinds of hang (HangError.Kind).
const (
	hangAsleep   = "asleep"
	hangSpinning = "spinning"
	hangHeldUp   = "held up"
)

func (e *HangError) Error() string {
	kind := e.Kind
	if kind == hangHeldUp {
		kind = "held up past the cap"
	}
	return fmt.Sprintf("procbridge: %s (pid %d) hung (%s): no heartbeat for %v (timeout %v)", e.Name, e.Pid, kind, e.Silence.Round(time.Microsecond), e.Timeout)
}

// Unwrap makes a HangError match ErrHung.
func (e *HangError) Unwrap() error { return ErrHung }

// ExitKind classifies how a process ended.
type ExitKind string

// Exit kinds.
const (
	ExitClean      ExitKind = "clean"       // exited 0 on its own
	ExitCode       ExitKind = "code"        // exited with a non-zero code on its own
	ExitSignal     ExitKind = "signal"      // killed by a signal we did not send
	ExitStopped    ExitKind = "stopped"     // stopped by us (Stop or Kill), however it ended
	ExitKilledHung ExitKind = "killed-hung" // killed by us because it hung
	ExitNotReady   ExitKind = "not-ready"   // never became ready: died, refused its segment, or timed out
	ExitOOM        ExitKind = "oom"         // killed by the kernel's OOM killer, past its MemoryMax
	// ExitKilledViolation: killed by us because it broke the segment's
	// protocol (a Violated event came first); its error matches
	// ErrBadSegment and names the word and the value.
	ExitKilledViolation ExitKind = "killed-violation"
)

// Exit is how a process ended. Code is the exit status when it exited (-1
// when a signal ended it); Signal the signal when it was killed by one
// (and CoreDumped whether it left a core). Time is when the bridge saw the
// end.
type Exit struct {
	Kind       ExitKind
	Code       int
	Signal     syscall.Signal
	CoreDumped bool
	Time       time.Time
}

// String says how the process ended, such as "killed by SIGKILL",
// "exited 3" or "stopped by us: exited 0".
func (e Exit) String() string {
	how := ""
	switch {
	case e.Signal != 0 && e.CoreDumped:
		how = "killed by " + signalName(e.Signal) + " (core dumped)"
	case e.Signal != 0:
		how = "killed by " + signalName(e.Signal)
	default:
		how = fmt.Sprintf("exited %d", e.Code)
	}
	switch e.Kind {
	case ExitStopped:
		return "stopped by us: " + how
	case ExitKilledHung:
		return "hung, killed by us: " + how
	case ExitNotReady:
		return "never became ready: " + how
	case ExitOOM:
		return "out of memory, killed by the OOM killer: " + how
	case ExitKilledViolation:
		return "broke the segment protocol, killed by us: " + how
	}
	return how
}

// err returns nil for a clean exit and for a stop we asked for, else an
// *ExitError.
func (e Exit) err(name string, pid int) error {
	if e.Kind == ExitClean || e.Kind == ExitStopped {
		return nil
	}
	return &ExitError{Name: name, Pid: pid, Exit: e}
}
