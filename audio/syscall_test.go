//go:build linux && amd64

package audio

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestNodeLoopMakesNoOtherSystemCall traces the processing thread of a
// node process (ptrace, syscall stops) while the engine runs 200 cycles:
// the loop's only system calls are futex waits and wakes. Two calls the Go
// runtime makes on the thread by itself are allowed, as no call of the
// loop's: rt_sigreturn ends the handler of a signal the runtime sends to
// preempt, and sched_yield is how the runtime's own locks back off while
// spinning (the thread enters and leaves the runtime around each futex
// call).
func TestNodeLoopMakesNoOtherSystemCall(t *testing.T) {
	g, sink := chain(48000, 128)
	// Tracing makes the thread slow: no watchdog may fence it meanwhile.
	e, err := Start(ctxT(t), Config{Graph: g, Sink: sink, Watchdog: time.Hour})
	require.NoError(t, err)
	defer e.Close(ctxT(t))
	_, err = e.Run(ctxT(t), 50) // warmed up
	require.NoError(t, err)

	h := e.hostIndex["amp"]
	_, lane := e.hosts[h].Load().seg.Control()
	tid := int(atomic.LoadUint32(e.b.Host(h).Lane(lane).Tid()))
	require.Positive(t, tid)

	type result struct {
		calls map[uint64]int
		err   error
	}
	var done atomic.Bool
	traced := make(chan error, 1)
	res := make(chan result, 1)
	go func() {
		// Every ptrace request must come from the thread that seized.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		calls, err := traceSyscalls(tid, &done, traced)
		res <- result{calls, err}
	}()
	if err := <-traced; err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("cannot trace the node's thread here: %v", err)
		}
		require.NoError(t, err)
	}
	_, err = e.Run(ctxT(t), 200)
	require.NoError(t, err)
	done.Store(true)
	// The next cycle makes the thread stop at a system call once more,
	// and the tracer lets go of it there.
	_, err = e.Run(ctxT(t), 2)
	require.NoError(t, err)
	var r result
	select {
	case r = <-res:
	case <-time.After(testDeadline):
		t.Fatal("the tracer did not let go")
	}
	require.NoError(t, r.err)
	t.Logf("system calls of the loop's thread over 200+ cycles: %v", r.calls)
	require.Positive(t, r.calls[unix.SYS_FUTEX], "the loop waits and wakes with futexes")
	for nr, n := range r.calls {
		if nr != unix.SYS_FUTEX && nr != unix.SYS_RT_SIGRETURN && nr != unix.SYS_SCHED_YIELD {
			assert.Failf(t, "a system call in the node loop", "syscall %d, %d times", nr, n)
		}
	}
}

// traceSyscalls seizes thread tid, counts the system calls it enters
// until done is set, then detaches. It says on traced when the thread is
// seized and stopped (or why not).
func traceSyscalls(tid int, done *atomic.Bool, traced chan<- error) (map[uint64]int, error) {
	if err := unix.PtraceSeize(tid); err != nil {
		traced <- err
		return nil, nil
	}
	if err := unix.PtraceInterrupt(tid); err != nil {
		traced <- err
		return nil, nil
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil {
		traced <- err
		return nil, nil
	}
	if err := unix.PtraceSetOptions(tid, unix.PTRACE_O_TRACESYSGOOD); err != nil {
		traced <- err
		return nil, nil
	}
	traced <- nil
	calls := map[uint64]int{}
	entering := true
	sig := 0
	for {
		if err := unix.PtraceSyscall(tid, sig); err != nil {
			return calls, err
		}
		sig = 0
		if _, err := unix.Wait4(tid, &ws, unix.WALL, nil); err != nil {
			return calls, err
		}
		switch {
		case ws.Exited() || ws.Signaled():
			return calls, errors.New("the traced thread ended")
		case !ws.Stopped():
			continue
		case ws.StopSignal() == unix.SIGTRAP|0x80: // a system call stop
			if entering {
				var regs unix.PtraceRegs
				if err := unix.PtraceGetRegs(tid, &regs); err != nil {
					return calls, err
				}
				calls[regs.Orig_rax]++
				if done.Load() {
					return calls, unix.PtraceDetach(tid)
				}
			}
			entering = !entering
		case ws.TrapCause() == unix.PTRACE_EVENT_STOP:
			// A group stop or our interrupt: nothing to deliver.
		default:
			sig = int(ws.StopSignal()) // a signal for the thread: deliver it
		}
	}
}
