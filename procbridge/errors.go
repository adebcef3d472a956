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
	// ErrBadSegment: the worker refused its shared-memory segment, or the
	// segment's header no longer validates.
	ErrBadSegment = errors.New("procbridge: bad segment")
	// ErrHung: the worker stopped beating (see *HangError).
	ErrHung = errors.New("procbridge: hung")
	// ErrNotWorkerMain: this program was started as a worker but did not
	// call worker.Main at the top of main.
	ErrNotWorkerMain = errors.New("procbridge: started as a worker, but worker.Main was not called at the top of main (or TestMain)")
)

// SpecError names a Spec field that cannot work, its value and why.
type SpecError struct {
	Field  string
	Value  string
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("procbridge: spec.%s = %s: %s", e.Field, e.Value, e.Reason)
}

// Unwrap makes a SpecError match ErrBadSpec.
func (e *SpecError) Unwrap() error { return ErrBadSpec }

// ExitError is the end of a process that is a failure: anything but a clean
// exit. It is the typed reason the actor layer fails with.
type ExitError struct {
	Name string
	Pid  int
	Exit Exit
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("procbridge: %s (pid %d) %s", e.Name, e.Pid, e.Exit.String())
}

// Unwrap lets a hang-kill match ErrHung and an early death match
// ErrExitedBeforeReady.
func (e *ExitError) Unwrap() error {
	switch e.Exit.Kind {
	case ExitKilledHung:
		return ErrHung
	case ExitNotReady:
		return ErrExitedBeforeReady
	}
	return nil
}

// HangError describes a worker that stopped beating.
type HangError struct {
	Name    string
	Pid     int
	Silence time.Duration // since the last beat, when confirmed
	Timeout time.Duration
	Starved time.Duration // time it spent held up (see HangHeldUp) while suspect
	Kind    HangKind      // what the monitor saw when it confirmed the hang
}

func (e *HangError) Error() string {
	return fmt.Sprintf("procbridge: %s (pid %d) hung (%v): no heartbeat for %v (timeout %v)", e.Name, e.Pid, e.Kind, e.Silence.Round(time.Microsecond), e.Timeout)
}

// HangKind says what the hang monitor saw when it confirmed a hang.
type HangKind int

// Hang kinds.
const (
	// HangAsleep: no thread of the worker runnable and no CPU used through
	// the confirmation window. It waits for something that does not come
	// (a lock, a read), or it is stopped.
	HangAsleep HangKind = iota
	// HangSpinning: it ran on a CPU through the window without beating.
	HangSpinning
	// HangHeldUp: it was kept from running (waiting for a CPU on a busy
	// machine, or blocked in the kernel) and stayed silent past the cap of
	// silence the monitor grants such a worker: ten timeouts, and at least
	// 250 ms. It may be healthy, on a machine that cannot run it.
	HangHeldUp
)

func (k HangKind) String() string {
	switch k {
	case HangAsleep:
		return "asleep"
	case HangSpinning:
		return "spinning"
	case HangHeldUp:
		return "held up past the cap"
	}
	return fmt.Sprintf("HangKind(%d)", int(k))
}

// Unwrap makes a HangError match ErrHung.
func (e *HangError) Unwrap() error { return ErrHung }

// ExitKind classifies how a process ended.
type ExitKind int

// Exit kinds.
const (
	ExitClean      ExitKind = iota // exited 0 on its own
	ExitCode                       // exited with a non-zero code on its own
	ExitSignal                     // killed by a signal we did not send
	ExitStopped                    // stopped by us (Stop or Kill), however it ended
	ExitKilledHung                 // killed by us because it hung
	ExitNotReady                   // never became ready: died, refused its segment, or timed out
)

func (k ExitKind) String() string {
	switch k {
	case ExitClean:
		return "clean"
	case ExitCode:
		return "code"
	case ExitSignal:
		return "signal"
	case ExitStopped:
		return "stopped"
	case ExitKilledHung:
		return "killed-hung"
	case ExitNotReady:
		return "not-ready"
	}
	return fmt.Sprintf("ExitKind(%d)", int(k))
}

// Exit is how a process ended. Code is the exit status when it exited;
// Signal the signal when it was killed by one (and CoreDumped whether it
// left a core).
type Exit struct {
	Kind       ExitKind
	Code       int
	Signal     syscall.Signal
	CoreDumped bool
	// Mono is the CLOCK_MONOTONIC time (ns) at which the bridge saw the end,
	// comparable with timestamps taken in any process (see Monotonic).
	Mono int64
	// At is the same instant on the wall clock.
	At time.Time
}

// Clean reports an exit with code 0 that nobody forced: under OTP's rules
// a transient child that ends this way is not restarted.
func (e Exit) Clean() bool { return e.Kind == ExitClean }

// Signaled reports whether a signal ended the process.
func (e Exit) Signaled() bool { return e.Signal != 0 }

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
	}
	return how
}

// Err returns nil for a clean exit and for a stop we asked for, else an
// *ExitError.
func (e Exit) err(name string, pid int) error {
	if e.Kind == ExitClean || e.Kind == ExitStopped {
		return nil
	}
	return &ExitError{Name: name, Pid: pid, Exit: e}
}
