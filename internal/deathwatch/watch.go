package deathwatch

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
)

// ErrNotSupported: this host cannot run the watch (not Linux, no BPF
// rights, no BTF, no ring buffers or tracepoints).
var ErrNotSupported = errors.New("deathwatch: not supported")

// EnvOff, set to "off" in a supervisor's environment, keeps the watch
// off (Off): the supervisor does as where BPF is not allowed. Set to
// "prompt", it keeps the watch on and asks for a prompt Dying for every
// process it watches (Prompt).
const EnvOff = "UNDERSTUDY_EBPF"

// Off reports whether EnvOff keeps the watch off.
func Off() bool { return os.Getenv(EnvOff) == "off" }

// Prompt reports whether EnvOff asks for every watched process's notice to
// be prompt: the supervisor keeps its death-notice waiters, this reader
// among them, waking every 100 ms while anything is watched, not only
// while a hot-standby group runs (Session.Read says why).
func Prompt() bool { return os.Getenv(EnvOff) == "prompt" }

// Kind is what a notice says.
type Kind uint8

const (
	Signal Kind = 1 // a signal that will kill the process was sent to it
	Exit   Kind = 2 // its exit began
	OOM    Kind = 3 // the OOM killer chose it
)

// String returns "signal", "exit" or "oom".
func (k Kind) String() string {
	switch k {
	case Signal:
		return "signal"
	case Exit:
		return "exit"
	case OOM:
		return "oom"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Notice is one word from the kernel about a watched process.
type Notice struct {
	Tgid int
	Kind Kind
	// Signal: for Signal the fatal signal, for OOM SIGKILL; for Exit the
	// signal that ends the group, when one does.
	Signal syscall.Signal
	// Status: for Exit, the exit code the group ends with (when no signal
	// ends it).
	Status int
	// Sender: for Signal, the tgid of the process that sent it (the
	// process itself for a fault), 0 when the kernel sent it on nobody's
	// behalf; for OOM, the process whose allocation chose the victim; for
	// Exit, the process whose thread was exiting.
	Sender int
	Time   int64  // the kernel's CLOCK_MONOTONIC ns when the program ran
	Cookie uint64 // the cookie the tgid was added with
}

// decode fills n from a ring record (prog_linux.go).
func (n *Notice) decode(b []byte) bool {
	if len(b) < recordSize {
		return false
	}
	u32 := func(i int) uint32 { return uint32(b[i]) | uint32(b[i+1])<<8 | uint32(b[i+2])<<16 | uint32(b[i+3])<<24 }
	u64 := func(i int) uint64 { return uint64(u32(i)) | uint64(u32(i+4))<<32 }
	*n = Notice{
		Tgid:   int(u32(0)),
		Kind:   Kind(u32(4)),
		Sender: int(u32(12)),
		Time:   int64(u64(16)),
		Cookie: u64(24),
	}
	v := u32(8)
	switch n.Kind {
	case Signal, OOM:
		n.Signal = syscall.Signal(v)
	case Exit:
		// A wait status: the signal in the low 7 bits, else the code.
		if sig := v & 0x7f; sig != 0 {
			n.Signal = syscall.Signal(sig)
		} else {
			n.Status = int(v>>8) & 0xff
		}
	default:
		return false
	}
	return true
}

// recordSize is the size of a ring record.
const recordSize = 32

// lingerEnd is what EndLinger calls, set by the program that keeps a
// session attached for a while after it last watched anything.
var lingerEnd atomic.Pointer[func()]

// SetLingerEnd makes f what EndLinger calls.
func SetLingerEnd(f func()) { lingerEnd.Store(&f) }

// EndLinger detaches, now, a session that is attached with nothing to
// watch and waiting out its linger, and returns once its reader is gone:
// for tests that count a program's descriptors and goroutines.
func EndLinger() {
	if f := lingerEnd.Load(); f != nil {
		(*f)()
	}
}
