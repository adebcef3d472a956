//go:build linux

package procbridge_test

// The hostile-worker suite: helper workers that map their own segment
// descriptor and write into it, as a buggy or hostile worker in any
// language could, and tests that the supervisor stays up, responsive and
// truthful. Offsets are the segment's layout (procbridge/internal/shm):
// the control word at 128, lane L at 256+512·L (ready word +64, pid +68,
// robust word i at +200+16i).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

const (
	hOffControl = 128
	hLaneBase   = 256
	hLaneSize   = 512
	hLaneReady  = 64
	hLanePid    = 68
)

// commitAsPrimary commits "primary <pid>" every millisecond, as a promoted
// spare of the hostile tests does, until it is fenced or ctx ends.
func commitAsPrimary(ctx context.Context, w *worker.Worker) {
	for ctx.Err() == nil && w.Commit([]byte(fmt.Sprintf("primary %d", os.Getpid()))) == nil {
		time.Sleep(time.Millisecond)
	}
}

// hostileSegment maps $UNDERSTUDY_SEGMENT_FD read-write, the way a worker
// written in C would.
func hostileSegment() []byte {
	fd, err := strconv.Atoi(os.Getenv("UNDERSTUDY_SEGMENT_FD"))
	if err != nil {
		panic(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		panic(err)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		panic(err)
	}
	return mem
}

func hU64(mem []byte, off int) *uint64 { return (*uint64)(unsafe.Pointer(&mem[off])) }
func hU32(mem []byte, off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

// hostileControl is the control word value attack names for a segment at
// epoch e with lanes lanes.
func hostileControl(attack string, e uint64, lanes int) uint64 {
	switch attack {
	case "lane-200":
		return e<<8 | 200
	case "lane-count":
		return e<<8 | uint64(lanes)
	case "epoch-max":
		return (1<<56 - 1) << 8 // lane 0
	case "epoch-skip":
		return (e+2)<<8 | 1
	case "one":
		return 1
	}
	panic("unknown attack " + attack)
}

func init() {
	// h-control writes its control word (Args[0] names the value) and then,
	// told to go on (SIGUSR1), dies once a spare is ready (Args[1] "die"),
	// or lives on ("live"). As a
	// spare, once promoted it commits "primary <pid>" every millisecond,
	// and waits to be promoted again whenever it finds itself fenced (a
	// forged word may name it before the supervisor's promotion does).
	worker.Register("h-control", func(ctx context.Context, w *worker.Worker) error {
		if !w.Active() {
			w.Ready()
			for ctx.Err() == nil {
				if err := w.WaitActive(ctx); err != nil {
					return nil
				}
				commitAsPrimary(ctx, w)
			}
			return nil
		}
		seg := hostileSegment()
		lanes := int(binary.LittleEndian.Uint32(seg[28:]))
		e := atomic.LoadUint64(hU64(seg, hOffControl)) >> 8
		atomic.StoreUint64(hU64(seg, hOffControl), hostileControl(os.Args[1], e, lanes))
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		w.Ready()
		if os.Args[2] == "die" {
			// Told to, once a spare is ready, die.
			select {
			case <-usr1:
			case <-ctx.Done():
				return nil
			}
			for atomic.LoadUint32(hU32(seg, hLaneBase+hLaneSize+hLaneReady)) != 1 {
				time.Sleep(time.Millisecond)
			}
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		<-ctx.Done()
		return nil
	})
}

// awaitPrimaryCommit waits until the group's segment holds the commit of
// the process pid as primary.
func awaitPrimaryCommit(t *testing.T, seg *procbridge.Segment, pid int) {
	t.Helper()
	want := fmt.Sprintf("primary %d", pid)
	buf := make([]byte, 64)
	waitFor(t, "the new primary's commit", func() bool {
		n, _, err := seg.State(buf)
		return err == nil && string(buf[:n]) == want
	})
}

// TestHostileControlWord: a primary that writes a control word no
// promotion leaves (a lane that does not exist, an epoch out of turn) and
// then dies, or lives on while the group switches, crashes neither the
// supervisor nor the spare: the spare takes over, the word names it, and
// the primary is blamed.
func TestHostileControlWord(t *testing.T) {
	for _, attack := range []string{"lane-200", "lane-count", "epoch-max", "epoch-skip"} {
		for _, then := range []string{"die", "live"} {
			t.Run(attack+"/"+then, func(t *testing.T) {
				g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-control", Args: []string{attack, then}, StateSize: 64}, 1)
				require.NoError(t, err)
				defer g.Stop(context.Background())
				primary, spare := g.Primary(), g.Spares()[0]
				seg, _ := primary.Segment()
				if then == "live" {
					require.NoError(t, g.Switch(ctxT(t)))
				} else {
					require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGUSR1))
				}
				p := nextGroupEvent[procbridge.Promoted](t, g)
				assert.Equal(t, primary.Pid(), p.From)
				assert.Equal(t, spare.Pid(), p.To)
				if then == "live" {
					require.NotNil(t, p.Cause, "the switch found the word corrupt")
					assert.Contains(t, p.Cause.String(), "broke the segment protocol")
					assert.Contains(t, p.Cause.String(), "control word")
				}
				epoch, lane := seg.Control()
				assert.Equal(t, 1, lane, "the word names the spare")
				assert.Equal(t, p.Epoch, epoch)
				assert.Equal(t, spare.Pid(), g.Primary().Pid())
				awaitPrimaryCommit(t, seg, spare.Pid())
				exit := exitedEventOf(t, primary)
				assert.NotEqual(t, procbridge.ExitStopped, exit.Kind, "a violation is not a stop")
			})
		}
	}
}

// hostileDog is the worker's own watchdog and its lane's beat, written
// without the SDK.
type hostileDog struct {
	seg  []byte
	lane int
	fd   int
}

func newHostileDog() *hostileDog {
	lane, _ := strconv.Atoi(os.Getenv("UNDERSTUDY_LANE"))
	fd, _ := strconv.Atoi(os.Getenv("UNDERSTUDY_WATCHDOG_FD"))
	return &hostileDog{seg: hostileSegment(), lane: lane, fd: fd}
}

// beat beats through the lane's words only, leaving the watchdog alone.
func (d *hostileDog) beat() {
	base := hLaneBase + d.lane*hLaneSize
	atomic.StoreInt64((*int64)(unsafe.Pointer(&d.seg[base+8])), monoNow())
	atomic.AddUint64(hU64(d.seg, base), 1)
}

// set arms the watchdog to expire at the monotonic time at.
func (d *hostileDog) set(at int64) {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(at)}
	unix.TimerfdSettime(d.fd, unix.TFD_TIMER_ABSTIME, &spec, nil)
}

func monoNow() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func init() {
	// h-freeze makes its watchdog blocking, then, over and over, makes it
	// expire and, once it polls readable, re-arms it an hour ahead, beating
	// through its lane only. It prints each round.
	worker.Register("h-freeze", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		d := newHostileDog()
		if err := unix.SetNonblock(d.fd, false); err != nil {
			return err
		}
		for round := 1; ; round++ {
			d.beat()
			d.set(1) // expired: the supervisor's epoll wakes
			p := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}}
			unix.Poll(p, 10)
			d.set(monoNow() + int64(time.Hour)) // not readable any more
			for range 5 {
				d.beat()
				time.Sleep(time.Millisecond)
			}
			fmt.Println("round", round)
		}
	})
	// h-storm arms its watchdog to expire at once, over and over, while
	// beating through its lane, for Args[0] rounds; then it stops beating.
	worker.Register("h-storm", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		d := newHostileDog()
		n, _ := strconv.Atoi(os.Args[1])
		for range n {
			d.beat()
			d.set(1)
			time.Sleep(100 * time.Microsecond)
		}
		fmt.Println("stopped")
		select {}
	})
	// h-far beats for a while, then arms its watchdog an hour ahead and
	// stops beating.
	worker.Register("h-far", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for range 20 {
			w.Beat()
			time.Sleep(5 * time.Millisecond)
		}
		d := newHostileDog()
		d.set(monoNow() + int64(time.Hour))
		select {}
	})
}

// hostileScenarios run inside a supervisor process of their own
// (TestHostileSupervisor), so that a supervisor the attack freezes is
// caught from outside: a frozen program cannot run its own timers.
var hostileScenarios = map[string]func(t *testing.T){
	"freeze": func(t *testing.T) {
		procbridge.SetMonitorWakeDelayForTest(time.Millisecond)
		defer procbridge.SetMonitorWakeDelayForTest(0)
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-freeze", Stdout: procbridge.Lines,
			Heartbeat: procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 50 * time.Millisecond}})
		require.NoError(t, err)
		defer p.Kill()
		for nextLine(t, p) != "round 20" {
		}
		assertResponsive(t)
		p.Kill()
		x := exitedEvent(t, p)
		assert.Equal(t, procbridge.ExitStopped, x.Exit.Kind)
	},
}

// assertResponsive checks that the supervisor still starts and reaps a
// worker with a heartbeat, and that a garbage collection completes.
func assertResponsive(t *testing.T) {
	t.Helper()
	start := time.Now()
	q, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "beat",
		Heartbeat: procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 50 * time.Millisecond}})
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "a Start")
	q.Kill()
	exitedEvent(t, q)
	gc := make(chan struct{})
	go func() {
		runtime.GC()
		close(gc)
	}()
	select {
	case <-gc:
	case <-time.After(5 * time.Second):
		t.Fatal("a garbage collection did not complete")
	}
}

// TestHostileSupervisor runs the scenario $PB_HOSTILE_SCENARIO names, as the
// supervisor process of TestHostileFreeze and its kind.
func TestHostileSupervisor(t *testing.T) {
	name := os.Getenv("PB_HOSTILE_SCENARIO")
	if name == "" {
		t.Skip("run by the hostile tests, as a supervisor process of its own")
	}
	hostileScenarios[name](t)
}

// runHostileScenario runs a scenario in a supervisor process of its own and
// fails when it fails, or does not end within a minute.
func runHostileScenario(t *testing.T, name string) { runHostileScenarioFor(t, name, time.Minute) }

// runHostileScenarioFor is runHostileScenario with the bound given.
func runHostileScenarioFor(t *testing.T, name string, bound time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	args := []string{"-test.run=^TestHostileSupervisor$", "-test.v"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PB_HOSTILE_SCENARIO="+name)
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "the supervisor froze:\n%s", out)
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestHostileSupervisor", "%s", out)
}

// TestHostileFreeze: a worker that makes its watchdog blocking and races
// the supervisor's wake freezes nothing: the supervisor never reads a
// worker's watchdog.
func TestHostileFreeze(t *testing.T) { runHostileScenario(t, "freeze") }

// TestHostileWatchdogStorm: a worker that makes its watchdog fire again and
// again costs the supervisor a few looks, then loses its watchdog, and its
// hang is still judged.
func TestHostileWatchdogStorm(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-storm", Args: []string{"5000"}, Stdout: procbridge.Lines,
		Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 100 * time.Millisecond}})
	require.NoError(t, err)
	defer p.Kill()
	before := procbridge.MonitorWakes()
	require.Equal(t, "stopped", nextLine(t, p))
	assert.True(t, procbridge.WatchdogRevoked(p), "the watchdog was revoked")
	// 5000 fires; the budget allows a few, plus the looks of other tests'
	// workers running at the same time.
	assert.Less(t, procbridge.MonitorWakes()-before, int64(1000))
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	h, ok := nextEvent(t, p).(procbridge.Hung)
	require.True(t, ok, "a hang, judged on the monitor's timer")
	assert.NotNil(t, h.Err)
}

// TestHostileWatchdogFar: a worker that arms its watchdog an hour ahead is
// judged within a second of its deadline all the same (the monitor audits
// the watchdogs every second).
func TestHostileWatchdogFar(t *testing.T) {
	start := time.Now()
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-far",
		Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 50 * time.Millisecond}})
	require.NoError(t, err)
	defer p.Kill()
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	_, ok := nextEvent(t, p).(procbridge.Hung)
	require.True(t, ok, "a hang")
	assert.Less(t, time.Since(start), 5*time.Second, "judged near its deadline, not after the monitor's idle bound")
}

// TestHostileCrashIsNotAStop: a primary killed from outside while no spare
// is ready ends the group with its crash, not with a stop of ours.
func TestHostileCrashIsNotAStop(t *testing.T) {
	count := t.TempDir() + "/starts"
	// The first spare starts; every replacement dies before Ready.
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "fragile-spare", Args: []string{count, "2"}}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	primary, spare := g.Primary(), g.Spares()[0]
	require.NoError(t, syscall.Kill(spare.Pid(), syscall.SIGKILL))
	nextGroupEvent[procbridge.SpareDown](t, g) // the spare lost
	nextGroupEvent[procbridge.SpareDown](t, g) // a replacement failed: none is ready
	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
	var last procbridge.Event
	for e := range g.Events() {
		last = e
	}
	down, ok := last.(procbridge.Exited)
	require.True(t, ok, "the group ends with its primary's Exited, got %#v", last)
	assert.Equal(t, primary.Pid(), down.Pid)
	assert.Equal(t, procbridge.ExitSignal, down.Exit.Kind, "%v", down.Exit)
	assert.Equal(t, syscall.SIGKILL, down.Exit.Signal)
	var xe *procbridge.ExitError
	assert.ErrorAs(t, down.Err, &xe, "a crash is a failure")
}

// TestHostileControlWordAlone: a worker of its own writes its control word
// and stops beating: it is reported for the word and killed, never taken
// for a parked spare.
func TestHostileControlWordAlone(t *testing.T) {
	for _, attack := range []string{"one", "lane-200"} {
		t.Run(attack, func(t *testing.T) {
			start := time.Now()
			p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-blind", Args: []string{"control", attack},
				Heartbeat: procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 50 * time.Millisecond}})
			require.NoError(t, err)
			defer p.Kill()
			first := nextEvent(t, p)
			require.IsType(t, procbridge.Ready{}, first)
			e := nextEvent(t, p)
			v, ok := e.(procbridge.Violated)
			require.True(t, ok, "a Violated event, got %v", e)
			assert.ErrorIs(t, v.Err, procbridge.ErrBadSegment)
			assert.Equal(t, p.Pid(), v.Pid)
			assert.Contains(t, e.String(), "broke the segment protocol")
			assert.Contains(t, e.String(), "control word")
			x := exitedEvent(t, p)
			assert.Equal(t, procbridge.ExitKilledViolation, x.Exit.Kind)
			assert.True(t, hostileErr(x.Err), "%v", x.Err)
			assert.Less(t, time.Since(start), 5*time.Second, "judged at its deadline, not never")
		})
	}
}

func init() {
	// h-blind beats for a while, then makes itself look parked (Args[0]
	// "control", writing the value Args[1] names) or arms its watchdog an
	// hour ahead (Args[0] "dog"), and stops beating.
	worker.Register("h-blind", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for range 10 {
			w.Beat()
			time.Sleep(5 * time.Millisecond)
		}
		switch os.Args[1] {
		case "control":
			seg := hostileSegment()
			e := atomic.LoadUint64(hU64(seg, hOffControl)) >> 8
			atomic.StoreUint64(hU64(seg, hOffControl), hostileControl(os.Args[2], e, 1))
		case "dog":
			dog, _ := strconv.Atoi(os.Getenv("UNDERSTUDY_WATCHDOG_FD"))
			var ts unix.Timespec
			unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
			spec := unix.ItimerSpec{Value: unix.NsecToTimespec(ts.Nano() + int64(time.Hour))}
			unix.TimerfdSettime(dog, unix.TFD_TIMER_ABSTIME, &spec, nil)
		}
		select {} // hung, asleep
	})
}

// hostileErr reports whether err or the event string says the worker broke
// the protocol.
func hostileErr(err error) bool {
	return errors.Is(err, procbridge.ErrBadSegment) && strings.Contains(err.Error(), "broke the segment protocol")
}

func init() {
	// h-victim commits "victim!!" once, then waits.
	worker.Register("h-victim", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		if err := w.Commit([]byte("victim!!")); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	})
	// h-intruder looks for another child's segment among its supervisor's
	// descriptors and tries to open it; it prints what it managed.
	worker.Register("h-intruder", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		dir := fmt.Sprintf("/proc/%d/fd", os.Getppid())
		ents, err := os.ReadDir(dir)
		if err != nil {
			fmt.Println("no listing:", err)
			<-ctx.Done()
			return nil
		}
		found := false
		for _, e := range ents {
			path := dir + "/" + e.Name()
			if l, _ := os.Readlink(path); !strings.Contains(l, "memfd:understudy:h-victim") {
				continue
			}
			found = true
			if fd, err := unix.Open(path, unix.O_RDWR, 0); err != nil {
				fmt.Println("denied:", err)
			} else {
				unix.Close(fd)
				fmt.Println("opened")
			}
		}
		if !found {
			fmt.Println("not found")
		}
		<-ctx.Done()
		return nil
	})
}

// The scenario of another child's segment, run as a user other than root.
func init() {
	hostileScenarios["cross-child"] = func(t *testing.T) {
		victim, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-victim", StateSize: 8})
		require.NoError(t, err)
		defer victim.Kill()
		seg, _ := victim.Segment()
		buf := make([]byte, 8)
		waitFor(t, "the victim's commit", func() bool {
			n, _, err := seg.State(buf)
			return err == nil && string(buf[:n]) == "victim!!"
		})
		intruder, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-intruder", Stdout: procbridge.Lines})
		require.NoError(t, err)
		defer intruder.Kill()
		line := nextLine(t, intruder)
		t.Log("intruder:", line)
		assert.NotEqual(t, "opened", line, "another child's segment is out of reach")
		n, epoch, err := seg.State(buf)
		require.NoError(t, err)
		assert.Equal(t, "victim!!", string(buf[:n]))
		assert.Zero(t, epoch)
	}
}

// TestHostileCrossChild: a worker cannot open another child's segment
// through its supervisor's /proc/<pid>/fd. The supervisor runs as an
// ordinary user (nobody, when the test runs as root): root may open
// anything.
func TestHostileCrossChild(t *testing.T) {
	runHostileScenarioAs(t, "cross-child", 65534)
}

// runHostileScenarioAs is runHostileScenario under uid (and gid) uid when
// the test runs as root.
func runHostileScenarioAs(t *testing.T, name string, uid uint32) {
	if os.Getuid() != 0 {
		runHostileScenario(t, name)
		return
	}
	// A copy of the test binary that the user can reach.
	self, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "hostile")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	require.NoError(t, os.Chmod(dir, 0o755))
	exe := dir + "/procbridge.test"
	b, err := os.ReadFile(self)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(exe, b, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestHostileSupervisor$", "-test.v")
	cmd.Env = append(os.Environ(), "PB_HOSTILE_SCENARIO="+name)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "permission denied") && !strings.Contains(string(out), "TestHostileSupervisor") {
		t.Skipf("cannot run the test binary as uid %d: %s", uid, out)
	}
	require.NoError(t, ctx.Err(), "the supervisor froze:\n%s", out)
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestHostileSupervisor", "%s", out)
	t.Logf("%s", out)
}

func init() {
	// h-waiters keeps the waiters word of its reply ring at 0, and wakes
	// whoever sleeps on it.
	worker.Register("h-waiters", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		seg := hostileSegment()
		rings := int(binary.LittleEndian.Uint64(seg[72:]))
		size := int(binary.LittleEndian.Uint32(seg[40:]))
		waiters := hU32(seg, rings+192+size+128) // ring 1: from the worker
		for ctx.Err() == nil {
			atomic.StoreUint32(waiters, 0)
			unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(waiters)), 1 /* FUTEX_WAKE */, 1<<30, 0, 0, 0)
		}
		return nil
	})
}

// TestHostileRecvSpin: a worker that keeps its reply ring's waiters word at
// 0 does not make the supervisor's Recv spin.
func TestHostileRecvSpin(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-waiters", RingSize: 4096})
	require.NoError(t, err)
	defer p.Kill()
	seg, _ := p.Segment()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after unix.Rusage
	require.NoError(t, unix.Getrusage(unix.RUSAGE_THREAD, &before))
	_, err = seg.Recv(make([]byte, 64), 2*time.Second)
	require.NoError(t, unix.Getrusage(unix.RUSAGE_THREAD, &after))
	assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
	used := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	t.Logf("Recv used %v of CPU over 2 s", used)
	assert.Less(t, used, 200*time.Millisecond)
}

// hostileCommit writes a commit into lane's state slot by hand, as a worker
// in another language would, claiming epoch.
func hostileCommit(seg []byte, lane int, epoch uint64, data []byte) {
	stateOff := int(binary.LittleEndian.Uint64(seg[64:]))
	size := int(binary.LittleEndian.Uint32(seg[36:]))
	slot := 64 + (size+63)/64*64
	base := stateOff + lane*(64+2*slot)
	seq := atomic.LoadUint64(hU64(seg, base)) + 1
	off := base + 64 + int(seq%2)*slot
	atomic.StoreUint64(hU64(seg, off), 0)
	copy(seg[off+64:], data)
	atomic.StoreUint64(hU64(seg, off+8), epoch)
	atomic.StoreUint32(hU32(seg, off+16), uint32(len(data)))
	atomic.StoreUint64(hU64(seg, off), seq)
	atomic.StoreUint64(hU64(seg, base), seq)
}

func init() {
	// h-forger commits "primary <n>" every millisecond as the primary. As
	// a spare it first forges a commit in its own slot with a far-future
	// epoch, then parks.
	worker.Register("h-forger", func(ctx context.Context, w *worker.Worker) error {
		if !w.Active() {
			hostileCommit(hostileSegment(), w.Lane(), 1<<60, []byte("forged"))
			w.Ready()
			if err := w.WaitActive(ctx); err != nil {
				return nil
			}
		} else {
			w.Ready()
		}
		for n := 0; ctx.Err() == nil; n++ {
			if err := w.Commit([]byte(fmt.Sprintf("primary %d", n))); err != nil {
				<-ctx.Done()
				return nil
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	})
}

// TestHostileStateForgery: a spare that writes its own state slot with a
// far-future epoch never reaches a reader: the supervisor's State returns
// the primary's commits, and after a failover the promoted spare carries
// on from the primary's state, not from its forgery.
func TestHostileStateForgery(t *testing.T) {
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-forger", StateSize: 64}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	seg := groupSegment(g)
	buf := make([]byte, 64)
	state := func() string {
		n, _, err := seg.State(buf)
		if err != nil {
			return err.Error()
		}
		return string(buf[:n])
	}
	waitFor(t, "a commit", func() bool { return strings.HasPrefix(state(), "primary ") })
	for range 20 {
		assert.True(t, strings.HasPrefix(state(), "primary "), "State: %q", state())
	}
	require.NoError(t, syscall.Kill(g.Primary().Pid(), syscall.SIGKILL))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	_, epoch, err := seg.State(buf)
	require.NoError(t, err)
	assert.LessOrEqual(t, epoch, p.Epoch)
	for range 20 {
		assert.True(t, strings.HasPrefix(state(), "primary "), "State after the failover: %q", state())
	}
}

func init() {
	// h-nonblock makes its lifeline descriptor non-blocking, then waits.
	worker.Register("h-nonblock", func(ctx context.Context, w *worker.Worker) error {
		fd, _ := strconv.Atoi(os.Getenv("UNDERSTUDY_LIFELINE_FD"))
		if err := unix.SetNonblock(fd, true); err != nil {
			return err
		}
		w.Ready()
		<-ctx.Done()
		return nil
	})
}

// TestHostileLifelineFlags: a worker that makes its lifeline non-blocking
// does not make a sibling believe its supervisor is gone when a signal
// interrupts the sibling's read.
func TestHostileLifelineFlags(t *testing.T) {
	sibling, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "wait"})
	require.NoError(t, err)
	defer sibling.Kill()
	attacker, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-nonblock"})
	require.NoError(t, err)
	defer attacker.Kill()
	// Interrupt every thread of the sibling (SIGCHLD: handled, harmless).
	for range 3 {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", sibling.Pid()))
		require.NoError(t, err)
		for _, e := range ents {
			tid, _ := strconv.Atoi(e.Name())
			unix.Tgkill(sibling.Pid(), tid, unix.SIGCHLD)
		}
	}
	// The sibling is still there, and answers a stop.
	require.IsType(t, procbridge.Ready{}, nextEvent(t, sibling))
	select {
	case e := <-sibling.Events():
		t.Fatalf("the sibling: %v", e)
	case <-time.After(200 * time.Millisecond):
	}
	exit, err := sibling.Stop(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, procbridge.ExitStopped, exit.Kind)
	assert.Zero(t, exit.Signal, "it ended on SIGTERM, cleanly: %v", exit)
}

func init() {
	// h-false-dying records a short-lived thread of its own as its robust
	// thread before Ready, lets it exit, then marks the word as if the
	// kernel had (owner died) and wakes the supervisor: a forged death
	// notice for a process that lives on.
	worker.Register("h-false-dying", func(ctx context.Context, w *worker.Worker) error {
		seg := hostileSegment()
		base := hLaneBase + w.Lane()*hLaneSize
		// A thread of its own (not the main one, which the runtime never
		// ends) that exits with its goroutine.
		exit := make(chan struct{})
		tid := os.Getpid()
		for tid == os.Getpid() {
			tids := make(chan int)
			go func() {
				runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
				tids <- unix.Gettid()
				<-exit
			}()
			tid = <-tids
		}
		atomic.StoreUint32(hU32(seg, base+80), uint32(tid))
		atomic.StoreUint32(hU32(seg, base+200), uint32(tid))
		w.Ready()
		// Once the supervisor waits on the word (it set the waiters bit),
		// let the thread go.
		for atomic.LoadUint32(hU32(seg, base+200))&0x80000000 == 0 {
			time.Sleep(time.Millisecond)
		}
		close(exit)
		for {
			if _, err := os.Stat(fmt.Sprintf("/proc/self/task/%d", tid)); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		word := hU32(seg, base+200)
		atomic.StoreUint32(word, 0x40000000) // FUTEX_OWNER_DIED, no owner
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), 1 /* FUTEX_WAKE */, 1, 0, 0, 0)
		<-ctx.Done()
		return nil
	})
}

// TestHostileFalseDying: a death notice a worker forges for itself is
// never reported as Dying: the process is reported for it and killed.
func TestHostileFalseDying(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-false-dying",
		Env: append(os.Environ(), "UNDERSTUDY_TEST_NO_ROBUST=1")})
	require.NoError(t, err)
	defer p.Kill()
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	e := nextEvent(t, p)
	require.NotEqual(t, "dying", strings.TrimPrefix(e.String(), fmt.Sprintf("pid %d ", p.Pid())), "a false Dying")
	assert.Contains(t, e.String(), "broke the segment protocol")
	assert.Contains(t, e.String(), "robust word 0")
	x := exitedEvent(t, p)
	assert.True(t, hostileErr(x.Err), "%v", x.Err)
}

func init() {
	// h-header zeroes the segment's magic as the primary, once told to;
	// it then carries on. A spare parks, then commits once
	// promoted.
	worker.Register("h-header", func(ctx context.Context, w *worker.Worker) error {
		if !w.Active() {
			w.Ready()
			if err := w.WaitActive(ctx); err != nil {
				return nil
			}
			w.Commit([]byte(fmt.Sprintf("primary %d", os.Getpid())))
			<-ctx.Done()
			return nil
		}
		seg := hostileSegment()
		w.Ready()
		if _, err := w.Recv(ctx, make([]byte, 64)); err != nil { // told to
			return nil
		}
		atomic.StoreUint64(hU64(seg, 0), 0)
		fmt.Println("zeroed")
		<-ctx.Done()
		return nil
	})
}

// TestHostileHeader: a primary that zeroes the header's magic does not
// disable its spares: the supervisor restores the header, the replacement
// spare starts, and the primary is blamed, which fails the group over to
// that spare.
func TestHostileHeader(t *testing.T) {
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-header", StateSize: 64, RingSize: 4096, Stdout: procbridge.Lines}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	primary, spare := g.Primary(), g.Spares()[0]
	require.NoError(t, groupSegment(g).Send([]byte("zero")))
	require.Equal(t, "zeroed", nextLine(t, primary))
	require.NoError(t, syscall.Kill(spare.Pid(), syscall.SIGKILL))
	nextGroupEvent[procbridge.SpareDown](t, g)
	ready := nextGroupEvent[procbridge.SpareReady](t, g)
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, primary.Pid(), p.From)
	assert.Equal(t, ready.Pid, p.To)
	require.NotNil(t, p.Cause)
	assert.Contains(t, p.Cause.String(), "broke the segment protocol: header")
	awaitPrimaryCommit(t, groupSegment(g), ready.Pid)
}

func init() {
	// h-robust-spin writes its robust word 0 back to its robust thread's
	// bare TID, and wakes it, over and over.
	worker.Register("h-robust-spin", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		seg := hostileSegment()
		base := hLaneBase + w.Lane()*hLaneSize
		tid := atomic.LoadUint32(hU32(seg, base+80))
		word := hU32(seg, base+200)
		for ctx.Err() == nil {
			atomic.StoreUint32(word, tid)
			unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(word)), 1 /* FUTEX_WAKE */, 1, 0, 0, 0)
		}
		return nil
	})
}

// TestHostileRobustSpin: a worker that rewrites and wakes its death-notice
// word in a loop does not keep the supervisor's waiter busy: the waiter's
// budget runs out, the worker is reported and killed.
func TestHostileRobustSpin(t *testing.T) {
	for _, perProcess := range []bool{false, true} {
		t.Run(fmt.Sprintf("per-process=%v", perProcess), func(t *testing.T) {
			procbridge.SetPerProcessDyingForTest(perProcess)
			defer procbridge.SetPerProcessDyingForTest(false)
			p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-robust-spin"})
			require.NoError(t, err)
			defer p.Kill()
			require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
			e := nextEvent(t, p)
			assert.Contains(t, e.String(), "broke the segment protocol: robust word 0")
			x := exitedEvent(t, p)
			assert.True(t, hostileErr(x.Err), "%v", x.Err)
		})
	}
}

func init() {
	// h-ring answers commands: "big" with a reply of half its ring and then
	// "small"; "head" by writing garbage into the head of the ring it
	// reads, and replying "scribbled".
	worker.Register("h-ring", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		seg := hostileSegment()
		size := int(binary.LittleEndian.Uint32(seg[40:]))
		rings := int(binary.LittleEndian.Uint64(seg[72:]))
		buf := make([]byte, size)
		for {
			n, err := w.Recv(ctx, buf)
			if err != nil {
				return nil
			}
			switch string(buf[:n]) {
			case "big":
				w.Reply(bytes.Repeat([]byte{'b'}, size/2))
				w.Reply([]byte("small"))
			case "head":
				atomic.StoreUint64(hU64(seg, rings), 12345) // ring 0's head: not a multiple of 8
				w.Reply([]byte("scribbled"))
				<-ctx.Done()
				return nil
			}
		}
	})
}

// TestHostileRing: a reply longer than the reader's buffer is cut to it and
// leaves the ring, which never jams; ring indices a worker scribbled make
// Send fail with an error that matches ErrBadSegment, and the worker is
// reported Violated and killed.
func TestHostileRing(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-ring", RingSize: 4096})
	require.NoError(t, err)
	defer p.Kill()
	seg, _ := p.Segment()
	buf := make([]byte, 64)
	require.NoError(t, seg.Send([]byte("big")))
	n, err := seg.Recv(buf, 10*time.Second)
	require.ErrorIs(t, err, io.ErrShortBuffer)
	assert.Equal(t, 64, n)
	assert.Equal(t, bytes.Repeat([]byte{'b'}, 64), buf[:n])
	n, err = seg.Recv(buf, 10*time.Second)
	require.NoError(t, err, "the ring goes on after a long reply")
	assert.Equal(t, "small", string(buf[:n]))

	require.NoError(t, seg.Send([]byte("head")))
	n, err = seg.Recv(buf, 10*time.Second)
	require.NoError(t, err)
	require.Equal(t, "scribbled", string(buf[:n]))
	err = seg.Send([]byte("more"))
	assert.ErrorIs(t, err, procbridge.ErrBadSegment)
	t.Log(err)
	// The worker broke the protocol: it is told so, and killed for it.
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	v, ok := nextEvent(t, p).(procbridge.Violated)
	require.True(t, ok, "Violated before Exited")
	assert.Contains(t, v.String(), "ring to the worker")
	exit := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitKilledViolation, exit.Exit.Kind)
	assert.ErrorIs(t, exit.Err, procbridge.ErrBadSegment)
}

func init() {
	// h-flood writes 100 MiB to its stdout without a newline, then exits.
	worker.Register("h-flood", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		chunk := bytes.Repeat([]byte{'x'}, 1<<20)
		for range 100 {
			if _, err := os.Stdout.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestHostileOutputFlood: a worker that writes one line of 100 MiB while
// nobody reads its Lines queues at most the output budget (1 MiB) in its
// supervisor; the rest is dropped and counted.
func TestHostileOutputFlood(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-flood", Stdout: procbridge.Lines})
	require.NoError(t, err)
	defer p.Kill()
	x := exitedEvent(t, p)
	require.Equal(t, procbridge.ExitClean, x.Exit.Kind, "%v", x.Exit)
	<-p.Done()
	queued := 0
	for l := range p.Lines() {
		queued += len(l.Text)
	}
	t.Logf("queued %d bytes, dropped %d", queued, x.Dropped)
	assert.LessOrEqual(t, queued, 1<<20, "bytes queued for the reader")
	assert.GreaterOrEqual(t, x.Dropped, uint64(100<<20-1<<20-256<<10), "bytes dropped and counted")
}

func init() {
	// h-threads starts Args[0] threads, each asleep in a system call, and
	// says it is ready once every one of them runs (making thousands of
	// threads takes a loaded machine seconds, in which the worker's own
	// loop may not run: before Ready, no watchdog counts that silence);
	// it beats a while, prints "threads" and stops beating.
	worker.Register("h-threads", func(ctx context.Context, w *worker.Worker) error {
		n, _ := strconv.Atoi(os.Args[1])
		// A P for every thread: the runtime starts a thread for a
		// goroutine at once while a P is idle, where otherwise each waits
		// for the runtime's monitor to take a P from a thread in Pause.
		procs := runtime.GOMAXPROCS(n + 2)
		var running sync.WaitGroup
		for range n {
			running.Add(1)
			go func() {
				runtime.LockOSThread()
				running.Done()
				unix.Pause() // holds its thread
			}()
		}
		running.Wait()
		runtime.GOMAXPROCS(procs)
		w.Ready()
		for range 20 {
			w.Beat()
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Println("threads")
		select {}
	})
}

// TestHostileThreadBomb: a worker of thousands of threads that stops
// beating is judged hung all the same, and its supervisor's hang probe
// opens descriptors for a bounded number of them, not two per thread.
func TestHostileThreadBomb(t *testing.T) {
	const threads = 3000
	fds := func() int {
		ents, _ := os.ReadDir("/proc/self/fd")
		return len(ents)
	}
	base := fds()
	start := time.Now()
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-threads", Args: []string{strconv.Itoa(threads)}, Stdout: procbridge.Lines,
		Heartbeat: procbridge.Heartbeat{Interval: 50 * time.Millisecond, Timeout: time.Second}, ReadyTimeout: deadline})
	require.NoError(t, err)
	defer p.Kill()
	t.Logf("%d threads made and ready after %v", threads, time.Since(start))
	if l, ok := <-p.Lines(); !ok || l.Text != "threads" {
		t.Fatalf("the worker: %v", exitedEvent(t, p))
	}
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-p.Done():
				return
			default:
			}
			if n := int64(fds()); n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	h, ok := nextEvent(t, p).(procbridge.Hung)
	require.True(t, ok, "a hang")
	t.Logf("%v, after %v", h, time.Since(start))
	exitedEvent(t, p)
	t.Logf("exited after %v", time.Since(start))
	<-done
	t.Logf("descriptors: %d before, %d at most while it was watched", base, peak.Load())
	assert.Less(t, peak.Load(), int64(base+1000), "the probe's descriptors")
}

func init() {
	// h-sentinel hands its sentinel's write end (fd 5) to a child in a
	// session of its own, prints the child's pid, then exits 0 (Args[0]
	// "exit") or waits (Args[0] "wait").
	worker.Register("h-sentinel", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		cmd := exec.Command("sleep", "1000")
		cmd.ExtraFiles = []*os.File{os.NewFile(5, "sentinel")}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			return err
		}
		fmt.Println(cmd.Process.Pid)
		if os.Args[1] == "wait" {
			<-ctx.Done()
		}
		return nil
	})
}

// TestHostileSentinel: in sentinel mode (no pidfds), a worker that hands
// its sentinel to a process outside its group, which never closes it, is
// still reported when it exits, and a stop of it returns.
func TestHostileSentinel(t *testing.T) {
	for _, then := range []string{"exit", "wait"} {
		t.Run(then, func(t *testing.T) {
			p, err := procbridge.StartWatching(ctxT(t), procbridge.Spec{Worker: "h-sentinel", Args: []string{then}, Stdout: procbridge.Lines}, procbridge.WatchSentinel)
			require.NoError(t, err)
			defer p.Kill()
			holder, err := strconv.Atoi(nextLine(t, p))
			require.NoError(t, err)
			defer syscall.Kill(holder, syscall.SIGKILL)
			require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
			start := time.Now()
			if then == "wait" {
				exit, err := p.Stop(ctxT(t))
				require.NoError(t, err)
				assert.Equal(t, procbridge.ExitStopped, exit.Kind)
			}
			x := exitedEvent(t, p)
			t.Logf("%v after %v", x, time.Since(start))
			if then == "exit" {
				assert.Equal(t, procbridge.ExitClean, x.Exit.Kind, "%v", x)
			}
			assert.Less(t, time.Since(start), 5*time.Second, "reported within a poll or two")
		})
	}
}

func init() {
	// h-verdict: the primary writes "bad magic" into the segment's attach
	// verdict once told to, and prints "written". Spares are as
	// fragile-spare's: from the Args[1]th start on (counted in the file
	// Args[0]) they exit 3 before Ready.
	worker.Register("h-verdict", func(ctx context.Context, w *worker.Worker) error {
		if w.Active() {
			w.Ready()
			if _, err := w.Recv(ctx, make([]byte, 64)); err != nil {
				return nil
			}
			atomic.StoreUint32(hU32(hostileSegment(), 24), 1) // AttachBadMagic
			fmt.Println("written")
			<-ctx.Done()
			return nil
		}
		n, err := testproc.CountStart(os.Args[1])
		if err != nil {
			return err
		}
		if from, _ := strconv.Atoi(os.Args[2]); n >= from {
			os.Exit(3)
		}
		w.Ready()
		return w.WaitActive(ctx)
	})
}

// TestHostileAttachVerdict: a spare that dies before Ready is reported for
// its own end, not for the refusal another member wrote into the
// segment's attach verdict.
func TestHostileAttachVerdict(t *testing.T) {
	count := t.TempDir() + "/starts"
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-verdict", Args: []string{count, "2"}, RingSize: 4096, Stdout: procbridge.Lines}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	primary, spare := g.Primary(), g.Spares()[0]
	require.NoError(t, groupSegment(g).Send([]byte("write")))
	require.Equal(t, "written", nextLine(t, primary))
	require.NoError(t, syscall.Kill(spare.Pid(), syscall.SIGKILL))
	nextGroupEvent[procbridge.SpareDown](t, g) // the spare lost
	d := nextGroupEvent[procbridge.SpareDown](t, g)
	t.Log(d.Err)
	var xe *procbridge.ExitError
	require.ErrorAs(t, d.Err, &xe, "the replacement's own end")
	assert.Equal(t, 3, xe.Exit.Code)
	assert.NotErrorIs(t, d.Err, procbridge.ErrBadSegment, "the replacement did not refuse its segment")
	assert.NotContains(t, d.Err.Error(), "refused")
}

func init() {
	// h-flags makes its stdout non-blocking and appending, then says so on
	// its stderr.
	worker.Register("h-flags", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		fl, err := unix.FcntlInt(1, unix.F_GETFL, 0)
		if err != nil {
			return err
		}
		if _, err := unix.FcntlInt(1, unix.F_SETFL, fl|unix.O_NONBLOCK|unix.O_APPEND); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "set")
		<-ctx.Done()
		return nil
	})
}

// TestHostileInheritFlags: a worker that inherits its supervisor's stdout
// (a pipe, under go test) and makes it non-blocking changes nothing of the
// supervisor's own: the worker has a description of its own.
func TestHostileInheritFlags(t *testing.T) {
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(1, &st))
	if k := st.Mode & unix.S_IFMT; k != unix.S_IFIFO && k != unix.S_IFCHR {
		t.Skipf("stdout is not a pipe or a terminal (mode %#o): a worker shares it by design", k)
	}
	before, err := unix.FcntlInt(1, unix.F_GETFL, 0)
	require.NoError(t, err)
	defer unix.FcntlInt(1, unix.F_SETFL, before)
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-flags", Stderr: procbridge.Lines})
	require.NoError(t, err)
	defer p.Kill()
	require.Equal(t, "set", nextLine(t, p))
	after, err := unix.FcntlInt(1, unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the supervisor's stdout flags")
	fmt.Println("the supervisor's stdout still takes a write")
}

func init() {
	// h-ring-group answers "ping" with "pong <pid>" as its group's primary;
	// "to" scribbles the head of the ring it reads and "from" the tail of
	// the ring it writes, then it waits; "die" scribbles the head and
	// SIGKILLs itself.
	worker.Register("h-ring-group", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		if !w.Active() {
			if err := w.WaitActive(ctx); err != nil {
				return nil
			}
		}
		seg := hostileSegment()
		size := int(binary.LittleEndian.Uint32(seg[40:]))
		rings := int(binary.LittleEndian.Uint64(seg[72:]))
		toHead, fromTail := rings, rings+192+size+64
		buf := make([]byte, size)
		for {
			n, err := w.Recv(ctx, buf)
			if err != nil {
				return nil
			}
			switch string(buf[:n]) {
			case "ping":
				w.Reply([]byte(fmt.Sprintf("pong %d", os.Getpid())))
			case "to", "die":
				atomic.StoreUint64(hU64(seg, toHead), 12345)
				if string(buf[:n]) == "die" {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
				<-ctx.Done()
				return nil
			case "from":
				atomic.StoreUint64(hU64(seg, fromTail), 1<<40+4)
				<-ctx.Done()
				return nil
			}
		}
	})
}

// TestHostileRingFailover: a primary that scribbles the indices of a
// command ring is reported as having broken the protocol (Violated, its
// end killed-violation) when the supervisor next uses the ring, and its
// spare takes over with the ring emptied and sound; one that scribbles and
// dies leaves the spare a sound ring and no blame.
func TestHostileRingFailover(t *testing.T) {
	for _, attack := range []string{"to", "from", "die"} {
		t.Run(attack, func(t *testing.T) {
			g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-ring-group", RingSize: 4096}, 1)
			require.NoError(t, err)
			defer g.Stop(context.Background())
			primary, spare := g.Primary(), g.Spares()[0]
			seg, _ := primary.Segment()
			buf := make([]byte, 64)
			require.NoError(t, seg.Send([]byte("ping")))
			n, err := seg.Recv(buf, deadline)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("pong %d", primary.Pid()), string(buf[:n]))

			require.NoError(t, seg.Send([]byte(attack)))
			switch attack {
			case "to":
				// The worker scribbles as soon as it reads the command.
				waitFor(t, "a send to fail on the scribbled ring", func() bool {
					err = seg.Send([]byte("more"))
					return err != nil
				})
				assert.ErrorIs(t, err, procbridge.ErrBadSegment)
			case "from":
				waitFor(t, "a receive to fail on the scribbled ring", func() bool {
					_, err = seg.Recv(buf, 0)
					return !errors.Is(err, os.ErrDeadlineExceeded)
				})
				assert.ErrorIs(t, err, procbridge.ErrBadSegment)
			}
			p := nextGroupEvent[procbridge.Promoted](t, g)
			assert.Equal(t, primary.Pid(), p.From)
			assert.Equal(t, spare.Pid(), p.To)
			exit := exitedEventOf(t, primary)
			if attack == "die" {
				assert.Equal(t, procbridge.ExitSignal, exit.Kind, "a crash stays a crash")
			} else {
				require.IsType(t, procbridge.Violated{}, p.Cause)
				assert.Equal(t, primary.Pid(), p.Cause.(procbridge.Violated).Pid)
				assert.Contains(t, p.Cause.String(), "ring")
				assert.Equal(t, procbridge.ExitKilledViolation, exit.Kind)
				t.Log(p.Cause)
			}
			// The new primary is not blamed and the ring works.
			require.NoError(t, seg.Send([]byte("ping")))
			n, err = seg.Recv(buf, deadline)
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("pong %d", spare.Pid()), string(buf[:n]))
			assert.Equal(t, spare.Pid(), g.Primary().Pid())
			assertResponsive(t)
		})
	}
}
