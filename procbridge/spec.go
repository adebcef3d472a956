package procbridge

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/limits"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge/internal/registry"
)

// defaultReadyTimeout is the ready timeout of a Spec whose ReadyTimeout is
// zero.
const defaultReadyTimeout = 10 * time.Second

// Spec says how to start and watch one worker process. The zero value of
// every field but the program (Path or Worker) means the documented default.
type Spec struct {
	// Name labels the process in events, errors and the memfd's name.
	// Defaults to Worker, or the base name of Path.
	Name string

	// Path is an executable to run (looked up in PATH when it has no
	// slash). Exactly one of Path and Worker is set.
	Path string
	// Worker names a Go worker function registered with worker.Register in
	// this binary: the binary re-executes itself to run it. The program must
	// call worker.Main at the top of main (or of TestMain).
	Worker string
	// Args are the arguments after the program name.
	Args []string
	// Env is the environment; nil means this process's environment.
	Env []string
	// Dir is the working directory; empty means this process's.
	Dir string

	// SDK says that the executable at Path attaches with procbridge/worker,
	// so it says when it is ready and may beat. Implied when Worker is set.
	// Without it the process is ready as soon as it runs and only its death
	// is watched.
	SDK bool

	// Notify says that the executable at Path speaks systemd's sd_notify
	// protocol: it gets NOTIFY_SOCKET, a datagram socket of its own, and
	// is ready when it sends READY=1 there. With a Heartbeat it also gets
	// WATCHDOG_USEC (the heartbeat's Timeout) and WATCHDOG_PID, and each
	// WATCHDOG=1 is a beat; WATCHDOG=trigger is a hang. STATUS= shows in
	// Process.Status, STOPPING=1 starts a stop of its own (killed a
	// StopGrace later), MAINPID= names a process of its group whose
	// messages are accepted too. A datagram from any other process is
	// refused and counted (Exited.Refused). Not with SDK or Worker.
	Notify bool
	// NotificationFD, when set, is s6's readiness notification: the child
	// gets the write end of a pipe as this descriptor number and is ready
	// when it writes a newline to it. It must be above the descriptors the
	// child already receives (6 plus len(ExtraFiles), up to 1023). Not with
	// SDK or Worker.
	NotificationFD int

	// ReadyTimeout bounds the wait for the worker to say it is ready.
	// Zero means 10s.
	ReadyTimeout time.Duration

	// Heartbeat, when its Interval is set, makes a worker that stops beating
	// for Timeout a hung worker: it is reported and killed.
	Heartbeat Heartbeat

	// StopGrace is how long Stop waits after SIGTERM before SIGKILL.
	// Zero means 5 s.
	StopGrace time.Duration

	// StateSize is the size in bytes of each of the segment's two state
	// slots (hot standby commits state there). Zero: no state region.
	StateSize int
	// RingSize is the size in bytes (a power of two) of each command ring.
	// Zero: no rings.
	RingSize int

	// MemoryMax, CPUMax and PidsMax limit what the worker and every
	// process it starts may use together, through a cgroup of the
	// worker's own (see the package doc: cgroup v2 where its controllers
	// can be had, else cgroup v1; Start fails with an error wrapping
	// ErrNotSupported where neither can). Zero: no limit.
	//
	// MemoryMax is in bytes, swap included, at least 1 MiB: past it the
	// kernel's OOM killer ends one of the processes, and a worker it ends
	// exits with the kind ExitOOM.
	MemoryMax int64
	// CPUMax is in CPUs' worth of time, from 0.01 up: 0.5 lets them run
	// 50 ms of every 100 ms, 2 two CPUs' worth; past it they wait for the
	// next period.
	CPUMax float64
	// PidsMax caps their tasks, processes and threads alike (a Go worker
	// runs several threads): a fork or thread past it fails (EAGAIN).
	PidsMax int

	// ExtraFiles are handed to the worker as descriptors 6, 7, …
	// (worker.ExtraFile(i) in the SDK), like os/exec's ExtraFiles: shared
	// memory of the caller's own, for instance.
	ExtraFiles []*os.File

	// Stdout and Stderr say where the worker's output goes. The zero value
	// is this process's own stdout and stderr (the terminal's), as in a
	// spec file.
	Stdout, Stderr Output

	// Spare, in a hot-standby group (StartGroup), is how to start the
	// spares when they are not the primary's program: the way to stand by
	// for a primary that does not link the SDK (a plain executable, a
	// Python program without it, a vendor binary). The spares must link
	// it (Worker, or SDK); once one is promoted it is the primary, and the
	// replacements are spares of this Spec too. A plain primary is failed
	// over from on the first word of its death: the eBPF watch's Dying,
	// while it still holds its memory, where the host runs the watch, else
	// its Exited. Spare follows the rules of any Spec, and leaves
	// StateSize, RingSize and Spare zero (the group's Spec sizes the
	// segment) and has the group's Heartbeat. Nil: the spares run this
	// Spec's program. Only StartGroup reads it.
	Spare *Spec
}

// Heartbeat configures hang detection.
type Heartbeat struct {
	// Interval is how often the worker's loop beats; it is handed to the
	// worker (worker.HeartbeatInterval). Zero: no heartbeat, no hang check.
	Interval time.Duration
	// Timeout is how long without a beat makes the worker suspect. It must
	// be above Interval. A suspect is confirmed hung only when it was not
	// merely waiting for a CPU (see the package doc): in its first 100 ms
	// after Ready it is not judged, and while the whole machine is
	// saturated it is granted up to max(10*Timeout, 30s) of silence before
	// it is killed, held up.
	Timeout time.Duration
}

// Output is where one output stream of a worker goes. The zero value is
// this process's own stream (the terminal's); Discard, Lines and ToWriter
// make the others.
type Output struct {
	kind outputKind
	w    io.Writer
}

type outputKind int

const (
	outputInherit outputKind = iota // to this process's own stdout or stderr
	outputDiscard                   // to /dev/null
	outputWriter                    // copied to w, never blocking the worker
	outputLines                     // line by line to Process.Lines
)

var (
	// Discard sends a stream to /dev/null.
	Discard = Output{kind: outputDiscard}
	// Lines sends a stream line by line to Process.Lines; under a
	// supervisor, to its logger. A line longer than 64 KiB comes in
	// pieces. Lines that find the reader behind (1,024 lines, or 1 MiB of
	// both streams, waiting) are dropped and counted (Exited.Dropped).
	Lines = Output{kind: outputLines}
)

// ToWriter sends a stream to w. Writes happen on a goroutine of the bridge;
// when w falls behind (1 MiB of both streams waiting), output is dropped
// (and counted) rather than the worker blocked.
func ToWriter(w io.Writer) Output { return Output{kind: outputWriter, w: w} }

func init() {
	// The file format and the runner read the writer back (an output file
	// they declared); nothing else needs it.
	hooks.SetOutputWriter(func(output any) io.Writer {
		if o, ok := output.(Output); ok {
			return o.w
		}
		return nil
	})
	hooks.SetPromote(func(seg any, from, to int) (uint64, int, error) {
		return seg.(*Segment).promote(from, to)
	})
}

// watchMode chooses how a death is noticed.
type watchMode int

const (
	watchAuto     watchMode = iota // a pidfd where the kernel has them, else the sentinel pipe
	watchPidfd                     // a pidfd, or an error wrapping ErrNotSupported
	watchSentinel                  // the pipe sentinel: the child holds the write end
)

func (m watchMode) String() string {
	switch m {
	case watchPidfd:
		return "pidfd"
	case watchSentinel:
		return "sentinel"
	}
	return "auto"
}

// startOptions are what a caller inside this package adds to a Spec: a
// group's shared segment and the lane in it, and the death signal tests
// force.
type startOptions struct {
	// segment, when set, is a shared segment the process serves in lane
	// (hot standby: a primary and its spares share one). The segment then
	// sizes the state and rings, and its heartbeat must equal the spec's.
	// Unset, the process gets a segment of its own.
	segment *Segment
	lane    int
	watch   watchMode
	// plain: the process is a group's first primary, which need not link
	// the SDK when its spares do (Spec.Spare).
	plain bool
}

// usesSDK reports whether the child speaks the worker protocol.
func (s *Spec) usesSDK() bool { return s.SDK || s.Worker != "" }

func (s *Spec) name() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Worker != "":
		return s.Worker
	}
	return s.Path[strings.LastIndexByte(s.Path, '/')+1:]
}

func (s *Spec) readyTimeout() time.Duration {
	if s.ReadyTimeout == 0 {
		return defaultReadyTimeout
	}
	return s.ReadyTimeout
}

func (s *Spec) stopGrace() time.Duration {
	if s.StopGrace == 0 {
		return limits.DefaultStopGrace
	}
	return s.StopGrace
}

// Validate reports the first field of s that cannot work, naming the field
// and its value. Start calls it; callers that build specs ahead of time (a
// supervisor, a spec file) call it to fail early.
func (s *Spec) Validate() error {
	bad := func(field string, value any, why string) error {
		return &SpecError{Field: field, Value: fmt.Sprint(value), Reason: why}
	}
	switch {
	case s.Path == "" && s.Worker == "":
		return bad("Path", `""`, "set Path (an executable) or Worker (a registered Go worker)")
	case s.Path != "" && s.Worker != "":
		return bad("Worker", fmt.Sprintf("%q", s.Worker), fmt.Sprintf("Path is %q too; set exactly one", s.Path))
	}
	if s.Worker != "" {
		if _, ok := registry.Lookup(s.Worker); !ok {
			return bad("Worker", fmt.Sprintf("%q", s.Worker), fmt.Sprintf("no worker of that name is registered (registered: %s)", strings.Join(registry.Names(), ", ")))
		}
	} else if _, err := lookPath(s.Path); err != nil {
		return bad("Path", fmt.Sprintf("%q", s.Path), err.Error())
	}
	if s.Dir != "" {
		if st, err := os.Stat(s.Dir); err != nil || !st.IsDir() {
			return bad("Dir", fmt.Sprintf("%q", s.Dir), "not a directory")
		}
	}
	if s.ReadyTimeout < 0 {
		return bad("ReadyTimeout", s.ReadyTimeout, "must not be negative")
	}
	if s.StopGrace < 0 {
		return bad("StopGrace", s.StopGrace, "must not be negative")
	}
	if err := s.validateNotify(); err != nil {
		return err
	}
	if err := validateHeartbeat(s.Heartbeat, s.usesSDK() || s.Notify); err != nil {
		return err
	}
	if s.StateSize < 0 || s.StateSize > maxStateSize {
		return bad("StateSize", s.StateSize, fmt.Sprintf("want 0..%d", maxStateSize))
	}
	if s.RingSize < 0 || s.RingSize > maxRingSize || s.RingSize&(s.RingSize-1) != 0 {
		return bad("RingSize", s.RingSize, fmt.Sprintf("want 0 or a power of two up to %d", maxRingSize))
	}
	if err := s.validateLimits(); err != nil {
		return err
	}
	for _, o := range []struct {
		field string
		out   Output
	}{{"Stdout", s.Stdout}, {"Stderr", s.Stderr}} {
		if o.out.kind == outputWriter && o.out.w == nil {
			return bad(o.field, "ToWriter(nil)", "a writer to copy the output to is needed")
		}
	}
	for i, f := range s.ExtraFiles {
		if f == nil {
			return bad(fmt.Sprintf("ExtraFiles[%d]", i), "nil", "not an open file")
		}
	}
	return s.validateSpare()
}

// validateSpare checks s.Spare, naming its fields "Spare.<field>".
func (s *Spec) validateSpare() error {
	sp := s.Spare
	if sp == nil {
		return nil
	}
	bad := func(field string, value any, why string) error {
		return &SpecError{Field: "Spare." + field, Value: fmt.Sprint(value), Reason: why}
	}
	switch {
	case sp.Spare != nil:
		return bad("Spare", "set", "a spare has no spares of its own; leave it nil")
	case sp.StateSize != 0:
		return bad("StateSize", sp.StateSize, "the group's Spec sizes the state; leave it 0")
	case sp.RingSize != 0:
		return bad("RingSize", sp.RingSize, "the group's Spec sizes the rings; leave it 0")
	case sp.Heartbeat != s.Heartbeat:
		return bad("Heartbeat", sp.Heartbeat, fmt.Sprintf("differs from the group's %+v; the members share one", s.Heartbeat))
	case sp.Path == "" && sp.Worker == "" || sp.usesSDK():
		// Path or Worker missing: Validate names it below.
	default:
		return bad("SDK", false, "a spare parks and takes over through procbridge/worker: set Worker, or SDK for an executable that links it")
	}
	if err := sp.Validate(); err != nil {
		var se *SpecError
		if errors.As(err, &se) {
			c := *se
			c.Field = "Spare." + c.Field
			return &c
		}
		return err
	}
	return nil
}

// validate checks the start options against spec s.
func (o *startOptions) validate(s *Spec) error {
	bad := func(field string, value any, why string) error {
		return &SpecError{Field: field, Value: fmt.Sprint(value), Reason: why}
	}
	if o.segment == nil {
		if s.Spare != nil {
			return bad("Spare", s.Spare.name(), "only a hot-standby group (StartGroup) starts spares")
		}
		return nil
	}
	c := o.segment.cfg
	switch {
	case o.lane < 0 || o.lane >= c.Lanes:
		return bad("lane", o.lane, fmt.Sprintf("the segment has lanes 0..%d", c.Lanes-1))
	case s.StateSize != 0:
		return bad("StateSize", s.StateSize, "the segment sizes the state; leave it 0")
	case s.RingSize != 0:
		return bad("RingSize", s.RingSize, "the segment sizes the rings; leave it 0")
	case s.Heartbeat != c.Heartbeat:
		return bad("Heartbeat", s.Heartbeat, fmt.Sprintf("differs from the segment's %+v", c.Heartbeat))
	case !s.usesSDK() && !o.plain:
		return bad("Worker", `""`, "a shared segment needs a worker that links procbridge/worker")
	}
	return nil
}

// lookPath resolves an executable like exec.LookPath, and also checks an
// explicit path is an executable regular file.
func lookPath(p string) (string, error) {
	path, err := exec.LookPath(p)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("not an executable file")
	}
	return path, nil
}

// The bounds of the limits (Spec.MemoryMax, CPUMax, PidsMax).
const (
	minMemoryMax = 1 << 20 // below it no program gets to run
	minCPUMax    = 0.01    // the kernel's smallest quota, 1 ms of each 100 ms
	maxCPUMax    = 1 << 20
)

func (s *Spec) validateLimits() error {
	bad := func(field string, value any, why string) error {
		return &SpecError{Field: field, Value: fmt.Sprint(value), Reason: why}
	}
	switch {
	case s.MemoryMax < 0 || s.MemoryMax > 0 && s.MemoryMax < minMemoryMax:
		return bad("MemoryMax", s.MemoryMax, "want 0 (no limit) or at least 1 MiB (1048576 bytes)")
	case math.IsNaN(s.CPUMax) || s.CPUMax < 0 || s.CPUMax > 0 && s.CPUMax < minCPUMax || s.CPUMax > maxCPUMax:
		return bad("CPUMax", s.CPUMax, fmt.Sprintf("want 0 (no limit) or CPUs from %v to %v, such as 0.5", minCPUMax, maxCPUMax))
	case s.PidsMax < 0:
		return bad("PidsMax", s.PidsMax, "want 0 (no limit) or a number of tasks")
	}
	return nil
}

// limits returns the spec's limits for internal/linux.
func (s *Spec) limits() linux.Limits {
	return linux.Limits{MemoryMax: s.MemoryMax, CPUMax: s.CPUMax, PidsMax: s.PidsMax}
}
