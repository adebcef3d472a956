//go:build linux

package deathwatch

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// attach loads and attaches the watch, or skips where the host cannot.
func attach(t *testing.T) (*Watch, *Session, chan Notice) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("the eBPF death watch does not run here (it needs root, or CAP_BPF and CAP_PERFMON, and the kernel's BTF): %v", err)
	}
	w, err := Load()
	require.NoError(t, err)
	s, err := w.Attach()
	require.NoError(t, err)
	notices := make(chan Notice, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(notices)
		for {
			var n Notice
			if err := s.Read(&n); err != nil {
				assert.ErrorIs(t, err, os.ErrClosed)
				return
			}
			notices <- n
		}
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
		w.Close()
	})
	return w, s, notices
}

// await returns the first notice for tgid, with a deadline.
func await(t *testing.T, notices chan Notice, tgid int) Notice {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case n := <-notices:
			if n.Tgid == tgid {
				return n
			}
		case <-timeout:
			t.Fatalf("no notice for pid %d", tgid)
		}
	}
}

func startSleep(t *testing.T, w *Watch, cookie uint64, args ...string) *exec.Cmd {
	t.Helper()
	if len(args) == 0 {
		args = []string{"sleep", "60"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	go1, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	require.NoError(t, w.Add(cmd.Process.Pid, cookie))
	go1.Write([]byte("go\n")) // a script reads this line before it acts: it is watched by then
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		w.Remove(cmd.Process.Pid)
	})
	return cmd
}

func TestNotices(t *testing.T) {
	w, s, notices := attach(t)
	require.Zero(t, s.slice.Load(), "a session waits in one call till SetSlice")
	t.Run("SIGKILL", func(t *testing.T) {
		cmd := startSleep(t, w, 7)
		before := nanotime()
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		n := await(t, notices, cmd.Process.Pid)
		assert.Equal(t, Signal, n.Kind)
		assert.Equal(t, syscall.SIGKILL, n.Signal)
		assert.Equal(t, os.Getpid(), n.Sender)
		assert.Equal(t, uint64(7), n.Cookie)
		assert.Greater(t, n.Time, before)
	})
	t.Run("SIGTERM unhandled", func(t *testing.T) {
		cmd := startSleep(t, w, 8)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		n := await(t, notices, cmd.Process.Pid)
		assert.Equal(t, Signal, n.Kind)
		assert.Equal(t, syscall.SIGTERM, n.Signal)
	})
	t.Run("SIGSEGV", func(t *testing.T) {
		cmd := startSleep(t, w, 9, "sh", "-c", "read x; kill -SEGV $$; sleep 60")
		n := await(t, notices, cmd.Process.Pid)
		assert.Equal(t, Signal, n.Kind)
		assert.Equal(t, syscall.SIGSEGV, n.Signal)
		assert.Equal(t, cmd.Process.Pid, n.Sender)
	})
	t.Run("handled SIGTERM is no notice", func(t *testing.T) {
		cmd := startSleep(t, w, 10, "sh", "-c", "trap 'exit 3' TERM; read x; while :; do sleep 0.01; done")
		require.Eventually(t, func() bool { return trapped(cmd.Process.Pid) }, 10*time.Second, time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
		n := await(t, notices, cmd.Process.Pid)
		assert.Equal(t, Exit, n.Kind, "the shell handles SIGTERM: its exit is the notice")
		assert.Equal(t, 3, n.Status)
		assert.Zero(t, n.Signal)
	})
	t.Run("exit", func(t *testing.T) {
		cmd := startSleep(t, w, 11, "sh", "-c", "read x; exit 5")
		n := await(t, notices, cmd.Process.Pid)
		assert.Equal(t, Exit, n.Kind)
		assert.Equal(t, 5, n.Status)
		assert.Equal(t, uint64(11), n.Cookie)
	})
	t.Run("unwatched", func(t *testing.T) {
		cmd := exec.Command("sh", "-c", "exit 5")
		var xe *exec.ExitError
		require.ErrorAs(t, cmd.Run(), &xe)
		marker := startSleep(t, w, 12, "sh", "-c", "read x; exit 6")
		n := await(t, notices, marker.Process.Pid)
		assert.Equal(t, 6, n.Status)
		select {
		case n := <-notices:
			t.Fatalf("a notice for an unwatched process: %+v", n)
		default:
		}
	})
}

// TestWatchedFromFork: a process forked by a thread that Expect names is
// watched from its fork, with no Add: one that kills itself as it starts
// is noticed, with the cookie. Once Unexpect is called the thread's forks
// are not watched.
func TestWatchedFromFork(t *testing.T) {
	w, _, notices := attach(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	require.NoError(t, w.Expect(tid, 21))
	dies := exec.Command("sh", "-c", "kill -KILL $$")
	require.Error(t, dies.Run()) // forked by this thread
	n := await(t, notices, dies.Process.Pid)
	assert.Equal(t, Signal, n.Kind)
	assert.Equal(t, syscall.SIGKILL, n.Signal)
	assert.Equal(t, dies.Process.Pid, n.Sender)
	assert.Equal(t, uint64(21), n.Cookie)
	n = await(t, notices, dies.Process.Pid)
	assert.Equal(t, Exit, n.Kind, "its exit takes it out of the map")

	w.Unexpect(tid)
	require.Error(t, exec.Command("sh", "-c", "kill -KILL $$").Run())
	marker := startSleep(t, w, 22, "sh", "-c", "read x; exit 6")
	select {
	case n := <-notices:
		assert.Equal(t, marker.Process.Pid, n.Tgid, "the next notice is the marker's: %+v", n)
		assert.Equal(t, 6, n.Status)
	case <-time.After(10 * time.Second):
		t.Fatal("no notice for the marker")
	}
	require.Error(t, w.Expect(0, 1))
}

// TestReadAcrossSlices: a reader told to wait in slices while it waits
// without a bound goes on in slices (counted by its loop), reads a notice
// that comes after several of them, and the next one too; told to stop,
// it wakes no more.
func TestReadAcrossSlices(t *testing.T) {
	const slice = 5 * time.Millisecond
	w, s, notices := attach(t)
	s.SetSlice(slice) // the reader is in its first wait, without a bound
	for i := range 2 {
		cmd := startSleep(t, w, uint64(20+i))
		awaitSlices(t, s, s.Slices()+3)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		n := await(t, notices, cmd.Process.Pid)
		assert.Equal(t, Signal, n.Kind)
		assert.Equal(t, uint64(20+i), n.Cookie)
		cmd.Wait()
	}
	s.SetSlice(0)
	before := s.Slices()
	// A child that lives 40 slices: the reader ends the slice it was in,
	// at most, and then waits without a bound.
	require.NoError(t, exec.Command("sleep", "0.2").Run())
	assert.LessOrEqual(t, s.Slices(), before+1, "slices after SetSlice(0)")
}

// awaitSlices waits until s's reader has ended n waits at their bound.
func awaitSlices(t *testing.T, s *Session, n uint64) {
	t.Helper()
	end := time.Now().Add(10 * time.Second)
	for s.Slices() < n {
		if time.Now().After(end) {
			t.Fatalf("the reader ended %d waits at their bound, want %d", s.Slices(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// trapped reports whether pid catches SIGTERM (/proc/PID/status SigCgt).
func trapped(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(b)) {
		if hex, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err == nil && mask&(1<<(syscall.SIGTERM-1)) != 0
		}
	}
	return false
}

// nanotime is CLOCK_MONOTONIC in ns, the clock of Notice.Time.
func nanotime() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// TestWaiters: each waiter of a session is woken by a notice while the
// others are not waiting, Drain hands each notice out once and in order,
// and Close ends every wait.
func TestWaiters(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("the eBPF death watch does not run here (it needs root, or CAP_BPF and CAP_PERFMON, and the kernel's BTF): %v", err)
	}
	w, err := Load()
	require.NoError(t, err)
	defer w.Close()
	s, err := w.Attach()
	require.NoError(t, err)
	defer s.Close()
	var waiters []*Waiter
	for i := range 2 {
		wt, err := s.NewWaiter(i == 0)
		require.NoError(t, err)
		waiters = append(waiters, wt)
	}
	for i, wt := range waiters {
		cmd := startSleep(t, w, uint64(30+i))
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		cmd.Wait()
		var kinds []Kind
		for len(kinds) < 2 {
			require.NoError(t, waitFor(t, wt), "waiter %d", i)
			require.NoError(t, s.Drain(func(ns []Notice) {
				for _, n := range ns {
					if n.Tgid == cmd.Process.Pid {
						kinds = append(kinds, n.Kind)
					}
				}
			}))
		}
		assert.Equal(t, []Kind{Signal, Exit}, kinds, "waiter %d: each notice once, in order", i)
	}
	ended := make(chan error, len(waiters))
	for _, wt := range waiters {
		go func() { ended <- wt.Wait() }()
	}
	s.Close()
	for range waiters {
		select {
		case err := <-ended:
			assert.ErrorIs(t, err, os.ErrClosed)
		case <-time.After(10 * time.Second):
			t.Fatal("a waiter still waits after Close")
		}
	}
	for _, wt := range waiters {
		wt.Close()
	}
}

// waitFor is wt.Wait with a deadline.
func waitFor(t *testing.T, wt *Waiter) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- wt.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not woken")
		return nil
	}
}
