//go:build linux

package procbridge_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

func init() {
	// Prints the nice of its first thread before it says Ready.
	worker.Register("boost-report", func(ctx context.Context, w *worker.Worker) error {
		fmt.Println(firstNice())
		w.Ready()
		<-ctx.Done()
		return nil
	})
	// Moves its first thread to nice -19 before it says Ready, a nice
	// any program may take from the boost's -20.
	worker.Register("boost-cling", func(ctx context.Context, w *worker.Worker) error {
		err := unix.Setpriority(unix.PRIO_PROCESS, os.Getpid(), -19)
		fmt.Println(err)
		w.Ready()
		<-ctx.Done()
		return nil
	})
	// Says Ready only once its first thread is back at nice 0 or above.
	worker.Register("boost-outlast", func(ctx context.Context, w *worker.Worker) error {
		for firstNice() < 0 {
			time.Sleep(time.Millisecond)
		}
		w.Ready()
		<-ctx.Done()
		return nil
	})
	// Notes its threads at Ready; asked to stop, prints their nices.
	// With Args[0] == "linger" it then waits for each to be back at nice
	// 0 or above, prints "back", and does not end; with "leave" it first
	// moves to its parent's process group, and prints the error.
	worker.Register("stop-boost", func(ctx context.Context, w *worker.Worker) error {
		tids := ownThreads()
		w.Ready()
		<-ctx.Done()
		fmt.Println(nicesOf(tids))
		switch os.Args[1] {
		case "leave":
			pg, err := unix.Getpgid(os.Getppid())
			if err == nil {
				err = unix.Setpgid(0, pg)
			}
			fmt.Println(err)
		case "linger":
		default:
			return nil
		}
		for strings.Contains(nicesOf(tids), "-") {
			time.Sleep(time.Millisecond)
		}
		fmt.Println("back")
		select {}
	})
}

// ownThreads lists the calling process's threads.
func ownThreads() []int {
	var tids []int
	linux.EachTask(os.Getpid(), func(tid int) { tids = append(tids, tid) })
	return tids
}

// nicesOf is the nices of the threads still there among tids, in a line.
func nicesOf(tids []int) string {
	var nices []string
	for _, tid := range tids {
		if a, err := unix.SchedGetAttr(tid, 0); err == nil {
			nices = append(nices, strconv.Itoa(int(a.Nice)))
		}
	}
	return strings.Join(nices, " ")
}

// firstNice is the nice of the calling process's first thread.
func firstNice() int32 {
	a, err := unix.SchedGetAttr(os.Getpid(), 0)
	if err != nil {
		return 99
	}
	return a.Nice
}

// canBoost reports whether this process may raise a thread to the
// boost's nice, as a start does to its worker's; it tries on a thread of
// its own.
func canBoost() bool {
	done := make(chan bool)
	go func() {
		runtime.LockOSThread() // given back, in case it is the first thread, which never ends
		defer runtime.UnlockOSThread()
		err := unix.Setpriority(unix.PRIO_PROCESS, 0, linux.BoostNice)
		unix.Setpriority(unix.PRIO_PROCESS, 0, 0)
		done <- err == nil
	}()
	return <-done
}

// threadsAt checks that every thread of pid is in the default class at
// nice 0, without reset-on-fork.
func threadsAt(t *testing.T, pid int) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	require.NoError(t, err)
	require.NotEmpty(t, tasks)
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		require.NoError(t, err)
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			continue // it ended
		}
		assert.Equal(t, uint32(unix.SCHED_NORMAL), a.Policy, "thread %d", tid)
		assert.Equal(t, int32(0), a.Nice, "thread %d", tid)
		assert.Zero(t, a.Flags&linux.ResetOnFork, "thread %d: reset-on-fork", tid)
	}
}

// killed kills p and waits for its end.
func killed(t *testing.T, p *procbridge.Process) {
	p.Kill()
	p.Wait(ctxT(t))
}

// TestStartBoost: a worker runs its start boosted, and once it is ready
// every thread of it is back at the nice it was started at.
func TestStartBoost(t *testing.T) {
	if !canBoost() {
		t.Skip("this process may not raise a thread to nice -20 (CAP_SYS_NICE)")
	}
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "boost-report", Stdout: procbridge.Lines})
	require.NoError(t, err)
	defer killed(t, p)
	assert.Equal(t, strconv.Itoa(linux.BoostNice), nextLine(t, p), "the first thread's nice before Ready")
	threadsAt(t, p.Pid())
}

// TestStartBoostKeptNot: a worker cannot keep a part of the boost by
// changing its own nice before Ready, nor keep it by not saying Ready.
func TestStartBoostKeptNot(t *testing.T) {
	if !canBoost() {
		t.Skip("this process may not raise a thread to nice -20 (CAP_SYS_NICE)")
	}
	t.Run("cling", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "boost-cling", Stdout: procbridge.Lines})
		require.NoError(t, err)
		defer killed(t, p)
		require.Equal(t, "<nil>", nextLine(t, p), "setpriority -19")
		threadsAt(t, p.Pid())
	})
	t.Run("outlast", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "boost-outlast", ReadyTimeout: time.Minute})
		require.NoError(t, err, "the boost outlasted its bound")
		defer killed(t, p)
		threadsAt(t, p.Pid())
	})
}

// TestStartBoostPlain: a worker that is ready as soon as it runs is not
// boosted at all.
func TestStartBoostPlain(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Path: "sh", Args: []string{"-c", "exec sleep 60"}})
	require.NoError(t, err)
	defer killed(t, p)
	threadsAt(t, p.Pid())
}

// zombieSched reads the scheduling of pid's first thread, a zombie not
// reaped, from /proc/<pid>/stat: its nice (field 19), real-time priority
// (40) and policy (41).
func zombieSched(t *testing.T, pid int) (nice, rtPriority, policy int) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // from field 3, the state
	require.Greater(t, len(fields), 41-3)
	num := func(field int) int {
		n, err := strconv.Atoi(fields[field-3])
		require.NoError(t, err, "field %d", field)
		return n
	}
	return num(19), num(40), num(41)
}

// TestEndHastened: a worker whose end is certain dies raised, so that its
// threads get the CPUs they need to exit: killed by its bridge, at
// SCHED_FIFO 1 (nice -20 where that is refused); from outside, where its
// end races a restart or a spare for the CPUs, at nice -20.
func TestEndHastened(t *testing.T) {
	if !canBoost() {
		t.Skip("this process may not raise a thread to nice -20 (CAP_SYS_NICE)")
	}
	fifo := testproc.CanFIFO()
	for _, c := range []struct {
		name string
		kill func(p *procbridge.Process)
		rt   bool // stopped by its bridge: real-time
	}{
		{"Kill", func(p *procbridge.Process) { p.Kill() }, true},
		{"outside", func(p *procbridge.Process) { syscall.Kill(p.Pid(), syscall.SIGKILL) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "wait"})
			require.NoError(t, err)
			release := procbridge.HoldReaps()
			defer release()
			c.kill(p)
			exitedEvent(t, p)
			nice, prio, policy := zombieSched(t, p.Pid())
			if !c.rt || !fifo {
				assert.Equal(t, linux.BoostNice, nice, "the real-time class refused: policy %d", policy)
				return
			}
			assert.Equal(t, unix.SCHED_FIFO, policy, "its policy")
			assert.Equal(t, 1, prio, "SCHED_FIFO's priority")
		})
	}
}

// TestStopBoost: a worker asked to stop has every thread it had raised to
// the boost's nice when the signal reaches it; one that does not end goes
// back to nice 0, without reset-on-fork, within the boost's bound, with
// its grace not yet over.
func TestStopBoost(t *testing.T) {
	if !canBoost() {
		t.Skip("this process may not raise a thread to nice -20 (CAP_SYS_NICE)")
	}
	boosted := func(t *testing.T, line string) {
		t.Helper()
		nices := strings.Fields(line)
		require.NotEmpty(t, nices, "no threads reported")
		for _, n := range nices {
			assert.Equal(t, strconv.Itoa(linux.BoostNice), n, "a thread's nice as the stop reached it: %q", line)
		}
	}
	t.Run("ends", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "stop-boost", Args: []string{"end"}, Stdout: procbridge.Lines})
		require.NoError(t, err)
		defer killed(t, p)
		stopped := make(chan error, 1)
		go func() { _, err := p.Stop(ctxT(t)); stopped <- err }()
		boosted(t, nextLine(t, p))
		require.NoError(t, <-stopped)
	})
	// A worker that does not end: back at nice 0 within the bound, in its
	// group or out of it.
	for _, arg := range []string{"linger", "leave"} {
		t.Run(arg, func(t *testing.T) {
			p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "stop-boost", Args: []string{arg}, Stdout: procbridge.Lines, StopGrace: time.Hour})
			require.NoError(t, err)
			stopped := make(chan error, 1)
			go func() { _, err := p.Stop(ctxT(t)); stopped <- err }()
			boosted(t, nextLine(t, p))
			if arg == "leave" {
				require.Equal(t, "<nil>", nextLine(t, p), "setpgid to its parent's group")
			}
			require.Equal(t, "back", nextLine(t, p), "the boost outlasted its bound")
			threadsAt(t, p.Pid())
			killed(t, p)
			require.NoError(t, <-stopped)
		})
	}
}
