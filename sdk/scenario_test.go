//go:build linux

// Package sdk_test runs the same scenarios against the worker SDK of every
// language, through procbridge's public API only.
//
// # The scenario contract
//
// Each SDK ships one scenario worker program. It attaches to the segment it
// was handed (on failure it writes the SDK's attach error on stderr and
// exits 78), reads UNDERSTUDY_SCENARIO and runs:
//
//   - beat: ready; then for ever: beat, sleep 1 ms.
//   - hang: ready; beat 10 times 1 ms apart; then sleep for ever without
//     beating.
//   - never-ready: attached, never says ready; sleeps for ever.
//   - counter: ready (a spare is ready once parked); wait until active
//     (at once for a primary); read the state: 8 bytes little-endian, 0
//     when nothing was committed; print "start <n>" (flushed); then for
//     ever: n++, commit the 8 bytes, beat, sleep 1 ms. When a commit (or a
//     beat) reports fenced: print "fenced <n>" (flushed) and exit 3.
//   - echo: ready; for ever: receive a message from the ring (waiting at
//     most a heartbeat interval, 10 ms without one, and beating between),
//     reply "echo:" followed by the message, cut to the ring's largest
//     message (ring size − 8 bytes). The supervisor also gives the ring
//     size as UNDERSTUDY_SCENARIO_RING for an SDK that does not expose it.
//   - child: ready; start "sleep 600" as a child in the worker's own
//     process group (without the UNDERSTUDY_* variables), print
//     "child <pid>" (flushed); then beat for ever.
//
// An unknown scenario: a message on stderr, exit 2.
//
// Each SDK adds a row (an sdkRow, in a file of its own) in an init
// function. A row whose tool is missing skips, unless
// UNDERSTUDY_SDK_REQUIRED=1 is set: then it fails.
package sdk_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
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

	"github.com/understudy/understudy/internal/hooks"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge"
)

// deadline bounds every wait of the suite: generous, for a loaded machine.
const deadline = 30 * time.Second

// sdkRow is one SDK under test.
type sdkRow struct {
	name string
	// tool is the program the row needs (the compiler, the interpreter),
	// when one: benchmarks leave a row whose tool is missing out.
	tool string
	// program returns how to run the SDK's scenario worker (the
	// executable, its arguments, and variables to add to the
	// environment), or calls t.Skip (through requireTool) when the SDK's
	// tool is missing. It may build the worker once per test binary.
	program func(t testing.TB) program
}

// program is how to run a scenario worker.
type program struct {
	Path string
	Args []string
	Env  []string
}

var (
	rowsMu sync.Mutex
	rows   []sdkRow
)

// addRow registers an SDK's row; call it from init.
func addRow(r sdkRow) {
	rowsMu.Lock()
	defer rowsMu.Unlock()
	rows = append(rows, r)
	slices.SortFunc(rows, func(a, b sdkRow) int { return strings.Compare(a.name, b.name) })
}

// forEachSDK runs fn as a subtest for each SDK.
func forEachSDK(t *testing.T, fn func(t *testing.T, p program)) {
	rowsMu.Lock()
	rs := slices.Clone(rows)
	rowsMu.Unlock()
	for _, r := range rs {
		t.Run(r.name, func(t *testing.T) {
			fn(t, r.program(t))
		})
	}
}

// envRequired makes a missing SDK tool a failure instead of a skip.
const envRequired = "UNDERSTUDY_SDK_REQUIRED"

// requireTool returns the path of tool, or skips (fails under
// UNDERSTUDY_SDK_REQUIRED=1) when it is missing.
func requireTool(t testing.TB, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv(envRequired) == "1" {
			t.Fatalf("%s is missing and %s=1: %v", tool, envRequired, err)
		}
		t.Skipf("%s is missing: %v", tool, err)
	}
	return path
}

// buildDir holds the scenario workers built for this test binary.
var buildDir string

// once builds something once per test binary and remembers its outcome.
type once struct {
	sync.Once
	path string
	err  error
}

func (o *once) get(t testing.TB, build func() (string, error)) string {
	t.Helper()
	o.Do(func() { o.path, o.err = build() })
	require.NoError(t, o.err)
	return o.path
}

// run runs a build command, returning its output in the error.
func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// Roles of the test binary re-executed as a supervising program.
const (
	envSup = "UNDERSTUDY_SCENARIO_SUP" // the scenario worker's program, as JSON: run supervise
)

func TestMain(m *testing.M) {
	if s := os.Getenv(envSup); s != "" {
		supervise(s)
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "sdk-scenarios-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// spec is the Spec of a scenario worker.
func (p program) spec(scenario string) procbridge.Spec {
	env := append(os.Environ(), p.Env...)
	env = append(env, "UNDERSTUDY_SCENARIO="+scenario)
	return procbridge.Spec{
		Path:   p.Path,
		Args:   p.Args,
		Env:    env,
		SDK:    true,
		Stdout: procbridge.Lines,
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// start starts spec and stops it when the test ends.
func start(t *testing.T, spec procbridge.Spec) *procbridge.Process {
	t.Helper()
	p, err := procbridge.Start(ctxT(t), spec)
	require.NoError(t, err)
	t.Cleanup(func() {
		p.Kill()
		<-p.Done()
	})
	return p
}

// nextLine returns p's next line of output.
func nextLine(t *testing.T, p *procbridge.Process) string {
	t.Helper()
	select {
	case l, ok := <-p.Lines():
		require.True(t, ok, "pid %d ended its output", p.Pid())
		return l.Text
	case <-time.After(deadline):
		t.Fatalf("pid %d printed nothing in %v", p.Pid(), deadline)
		return ""
	}
}

// wordAfter parses "<word> <n>" and returns n.
func wordAfter(t *testing.T, line, word string) uint64 {
	t.Helper()
	s, ok := strings.CutPrefix(line, word+" ")
	require.True(t, ok, "want %q <n>, got %q", word, line)
	n, err := strconv.ParseUint(s, 10, 64)
	require.NoError(t, err, line)
	return n
}

// events collects p's events until Exited.
func events(t *testing.T, p *procbridge.Process) []procbridge.Event {
	t.Helper()
	var evs []procbridge.Event
	timeout := time.After(deadline)
	for {
		select {
		case ev, ok := <-p.Events():
			if !ok {
				t.Fatalf("pid %d: events ended without Exited: %v", p.Pid(), evs)
			}
			evs = append(evs, ev)
			if _, ok := ev.(procbridge.Exited); ok {
				return evs
			}
		case <-timeout:
			t.Fatalf("pid %d: no Exited in %v: %v", p.Pid(), deadline, evs)
		}
	}
}

// TestDeathNotice: a beat worker SIGKILLed gives the early death notice
// (Dying, from its robust words) before Exited, which says killed.
func TestDeathNotice(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		p := start(t, prog.spec("beat"))
		require.IsType(t, procbridge.Ready{}, <-p.Events())
		require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
		evs := events(t, p)
		i := slices.IndexFunc(evs, func(e procbridge.Event) bool { _, ok := e.(procbridge.Dying); return ok })
		assert.GreaterOrEqual(t, i, 0, "a Dying event before Exited: %v", evs)
		ex := evs[len(evs)-1].(procbridge.Exited)
		assert.Equal(t, syscall.SIGKILL, ex.Exit.Signal, "%v", ex)
	})
}

// TestHang: a worker that stops beating gets a hang verdict and is killed.
func TestHang(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		spec := prog.spec("hang")
		spec.Heartbeat = procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 200 * time.Millisecond}
		p := start(t, spec)
		evs := events(t, p)
		i := slices.IndexFunc(evs, func(e procbridge.Event) bool { _, ok := e.(procbridge.Hung); return ok })
		assert.GreaterOrEqual(t, i, 0, "a Hung event: %v", evs)
		ex := evs[len(evs)-1].(procbridge.Exited)
		assert.Equal(t, procbridge.ExitKilledHung, ex.Exit.Kind, "%v", ex)
	})
}

// TestReadyTimeout: a worker that never says ready fails its start.
func TestReadyTimeout(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		spec := prog.spec("never-ready")
		spec.ReadyTimeout = 300 * time.Millisecond
		p, err := procbridge.Start(ctxT(t), spec)
		if p != nil {
			p.Kill()
		}
		require.ErrorIs(t, err, procbridge.ErrStartTimeout)
	})
}

// counterGroup starts a group of counter workers with one spare, and
// waits until the primary has started from 0.
func counterGroup(t *testing.T, prog program) (*procbridge.Group, *procbridge.Segment) {
	t.Helper()
	spec := prog.spec("counter")
	spec.StateSize = 8
	g, err := procbridge.StartGroup(ctxT(t), spec, 1)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		g.Stop(ctx)
	})
	require.Equal(t, "start 0", nextLine(t, g.Primary()))
	seg, _ := g.Primary().Segment()
	return g, seg
}

// committed returns the state the segment holds (0 when none).
func committed(t *testing.T, seg *procbridge.Segment) uint64 {
	t.Helper()
	buf := make([]byte, 8)
	n, _, err := seg.State(buf)
	if errors.Is(err, procbridge.ErrNoState) {
		return 0
	}
	require.NoError(t, err)
	require.Equal(t, 8, n)
	return binary.LittleEndian.Uint64(buf)
}

// awaitCount waits until the committed count reaches at least n.
func awaitCount(t *testing.T, seg *procbridge.Segment, n uint64) uint64 {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		c := committed(t, seg)
		if c >= n {
			return c
		}
		require.True(t, time.Now().Before(end), "count %d after %v, want %d", c, deadline, n)
		time.Sleep(time.Millisecond)
	}
}

// TestHotStandby: the primary of a counter group is SIGKILLed; its spare
// takes over from at least the last count the primary committed, and
// goes on counting.
func TestHotStandby(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		g, seg := counterGroup(t, prog)
		spare := g.Spares()[0]
		awaitCount(t, seg, 20)
		// Stopped first, so that the last commit is known before the kill:
		// a SIGKILL takes effect some time after kill returns.
		primary := g.Primary()
		require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGSTOP))
		awaitStopped(t, primary.Pid())
		last := committed(t, seg)
		require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
		from := wordAfter(t, nextLine(t, spare), "start")
		assert.GreaterOrEqual(t, from, last, "the spare resumes from the primary's last commit")
		awaitCount(t, seg, from+20)
	})
}

// awaitStopped waits until pid is stopped (state T in /proc).
func awaitStopped(t *testing.T, pid int) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		require.NoError(t, err)
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'T' {
			return
		}
		require.True(t, time.Now().Before(end), "pid %d not stopped after %v", pid, deadline)
		time.Sleep(time.Millisecond)
	}
}

// TestFencing: a primary that is only stopped (SIGSTOP) is fenced by a
// promotion of its spare; woken (SIGCONT), its next commit is refused: it
// prints "fenced <n>" and exits 3. The promotion is Segment.Failover,
// which fences without killing (Group.Switch and a hang verdict would kill
// the old primary).
func TestFencing(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		g, seg := counterGroup(t, prog)
		primary, spare := g.Primary(), g.Spares()[0]
		awaitCount(t, seg, 10)
		require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGSTOP))
		awaitStopped(t, primary.Pid())
		_, lane, err := hooks.Promote(seg, 0, 1)
		require.NoError(t, err)
		require.Equal(t, 1, lane)
		from := wordAfter(t, nextLine(t, spare), "start")
		require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGCONT))
		// Stopped in the middle of a commit, the primary finishes it on
		// waking (it was checked before the stop) and is fenced at the
		// next: its count is at most two past what its successor adopted.
		fenced := wordAfter(t, nextLine(t, primary), "fenced")
		assert.LessOrEqual(t, fenced, from+2, "the fenced primary's count")
		ctx := ctxT(t)
		exit, _ := primary.Wait(ctx)
		assert.Equal(t, 3, exit.Code, "%v", exit)
		assert.GreaterOrEqual(t, awaitCount(t, seg, from+10), from+10, "the new primary counts on")
	})
}

// TestRings: messages sent to an echo worker come back after "echo:",
// one of the ring's largest size included (its reply cut to that size).
func TestRings(t *testing.T) {
	const ringSize = 4096
	forEachSDK(t, func(t *testing.T, prog program) {
		spec := prog.spec("echo")
		spec.RingSize = ringSize
		spec.Env = append(spec.Env, "UNDERSTUDY_SCENARIO_RING="+strconv.Itoa(ringSize))
		p := start(t, spec)
		seg, _ := p.Segment()
		largest := bytes.Repeat([]byte("0123456789abcdef"), ringSize/16)[:ringSize-8]
		buf := make([]byte, ringSize)
		for _, msg := range [][]byte{[]byte("hello"), {}, bytes.Repeat([]byte{'x'}, 1001), largest} {
			require.NoError(t, seg.Send(msg))
			n, err := seg.Recv(buf, deadline)
			require.NoError(t, err)
			want := append([]byte("echo:"), msg...)[:min(len(msg)+5, ringSize-8)]
			assert.Equal(t, want, buf[:n], "the reply to %d bytes", len(msg))
		}
	})
}

// TestLifelineEOF: the supervising program is SIGKILLed; the child worker
// (its lifeline reads EOF) kills its own process group: it and its
// "sleep 600" are gone. The supervising program is this binary
// re-executed (supervise).
func TestLifelineEOF(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		js, err := json.Marshal(prog)
		require.NoError(t, err)
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), envSup+"="+string(js))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		linec := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.HasPrefix(sc.Text(), "worker ") || strings.HasPrefix(sc.Text(), "error") {
					linec <- sc.Text()
					break
				}
			}
			close(linec)
		}()
		var line string
		select {
		case line = <-linec:
		case <-time.After(deadline):
		}
		var worker, child int
		if _, err := fmt.Sscanf(line, "worker %d child %d", &worker, &child); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the supervising program said %q", line)
		}
		var fds []unix.PollFd
		for _, pid := range []int{worker, child} {
			fd, err := unix.PidfdOpen(pid, 0)
			require.NoError(t, err, "pid %d", pid)
			defer unix.Close(fd)
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		cmd.Wait()
		end := time.Now().Add(deadline)
		for left := len(fds); left > 0 && time.Now().Before(end); {
			n, err := unix.Poll(fds, 100)
			if err != nil || n == 0 {
				continue
			}
			for i := range fds {
				if fds[i].Revents != 0 {
					fds[i].Fd, fds[i].Revents = -1, 0
					left--
				}
			}
		}
		for i, pid := range []int{worker, child} {
			if fds[i].Fd >= 0 {
				syscall.Kill(pid, syscall.SIGKILL)
				t.Errorf("pid %d alive %v after its supervisor was killed", pid, deadline)
			}
		}
	})
}

// supervise is the supervising program of TestLifelineEOF: it starts the
// child scenario of the program given as JSON, prints "worker <pid> child
// <pid>", and waits to be killed.
func supervise(js string) {
	var prog program
	if err := json.Unmarshal([]byte(js), &prog); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	p, err := procbridge.Start(context.Background(), prog.spec("child"))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for l := range p.Lines() {
		if c, ok := strings.CutPrefix(l.Text, "child "); ok {
			fmt.Printf("worker %d child %s\n", p.Pid(), c)
			break
		}
	}
	select {}
}

// TestWaitGivesUp: a parked spare's wait ends unpromoted, first at a
// timeout, then cancelled from another thread; the thread that waited
// gets its scheduling back (no thread but the robust-list thread is left
// real-time), and the primary is still the primary.
func TestWaitGivesUp(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		g, err := procbridge.StartGroup(ctxT(t), prog.spec("give-up"), 1)
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			g.Stop(ctx)
		})
		primary := g.Primary()
		require.Equal(t, "active", nextLine(t, primary))
		spare := g.Spares()[0]
		require.Equal(t, "timeout", nextLine(t, spare))
		require.Equal(t, "cancelled", nextLine(t, spare))
		_, lane := spare.Segment()
		mem, unmap := mapSegment(t, spare.Pid())
		defer unmap()
		lanesOff := binary.LittleEndian.Uint64(mem[56:])
		robust := binary.LittleEndian.Uint32(mem[lanesOff+uint64(lane)*512+80:])
		assert.Empty(t, realtimeThreads(t, spare.Pid(), int(robust)), "threads of the spare left at SCHED_FIFO")
		assert.Equal(t, primary.Pid(), g.Primary().Pid(), "the primary")
	})
}

// realtimeThreads lists pid's threads, but the thread except, whose policy
// is SCHED_FIFO.
func realtimeThreads(t *testing.T, pid, except int) []string {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	require.NoError(t, err)
	var fifo []string
	for _, task := range tasks {
		if task.Name() == strconv.Itoa(except) {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue // the thread ended
		}
		// After the command's closing parenthesis: state is field 3,
		// policy field 41.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 38 && f[38] == "1" {
			fifo = append(fifo, task.Name())
		}
	}
	return fifo
}

// TestParkStorm: another process of the segment writes values the
// protocol gives it no reason to write into a parked spare's park word (2,
// a worker's own "give up"; 7; and 1, a stale promotion), waking the spare
// each time, for a second. The spare, raised above ordinary tasks while it
// parks, bounds how often it looks at its words (docs/protocol.md): it
// uses under 300 ms of CPU in that second. Then the primary is killed and
// the spare still takes over. The storm comes from this program, which
// maps the segment as any process of it could: the spare cannot tell who
// wrote its word.
func TestParkStorm(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		g, seg := counterGroup(t, prog)
		primary, spare := g.Primary(), g.Spares()[0]
		awaitCount(t, seg, 5)
		_, lane := spare.Segment()
		mem, unmap := mapSegmentWritable(t, spare.Pid())
		defer unmap()
		lanesOff := binary.LittleEndian.Uint64(mem[56:])
		park := (*uint32)(unsafe.Pointer(&mem[lanesOff+uint64(lane)*512+128]))
		before := linux.ProcessCPU(spare.Pid())
		values := []uint32{2, 7, 1}
		for i, end := 0, time.Now().Add(time.Second); time.Now().Before(end); i++ {
			atomic.StoreUint32(park, values[i%len(values)])
			linux.FutexWake(park, 1<<30)
		}
		atomic.StoreUint32(park, 0)
		used := time.Duration(linux.ProcessCPU(spare.Pid()) - before)
		t.Logf("the parked spare used %v of CPU over the 1 s storm", used)
		assert.Less(t, used, 300*time.Millisecond, "the parked spare spun")
		require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
		from := wordAfter(t, nextLine(t, spare), "start")
		awaitCount(t, seg, from+10)
	})
}

// mapSegmentWritable maps pid's segment (its descriptor 3) for reading and
// writing.
func mapSegmentWritable(t *testing.T, pid int) (mem []byte, unmap func()) {
	t.Helper()
	pfd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err, "pidfd of %d", pid)
	defer unix.Close(pfd)
	fd, err := unix.PidfdGetfd(pfd, 3, 0)
	require.NoError(t, err, "the segment of %d", pid)
	defer unix.Close(fd)
	var st unix.Stat_t
	require.NoError(t, unix.Fstat(fd, &st))
	mem, err = unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	require.NoError(t, err)
	return mem, func() { unix.Munmap(mem) }
}

// TestParkedSpareLooksUp: a parked spare, with nothing to wake it, looks
// at its words again every 100 ms (on some virtual machines a process that
// slept longer wakes slowly: docs/protocol.md) and sleeps again: its
// lane's park-loop counter grows by 3 or more without a promotion. Then
// the primary is killed and the spare still takes over.
func TestParkedSpareLooksUp(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		g, seg := counterGroup(t, prog)
		primary, spare := g.Primary(), g.Spares()[0]
		awaitParked(t, g)
		_, lane := spare.Segment()
		mem, unmap := mapSegment(t, spare.Pid())
		defer unmap()
		lanesOff := binary.LittleEndian.Uint64(mem[56:])
		loops := (*uint32)(unsafe.Pointer(&mem[lanesOff+uint64(lane)*512+84]))
		before, start := atomic.LoadUint32(loops), time.Now()
		for atomic.LoadUint32(loops) < before+3 {
			require.Less(t, time.Since(start), deadline, "the parked spare looked %d times", atomic.LoadUint32(loops)-before)
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("3 looks in %v", time.Since(start).Round(time.Millisecond))
		_, active := seg.Control()
		_, plane := primary.Segment()
		require.Equal(t, plane, active, "the primary's lane is still the active one")
		require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
		from := wordAfter(t, nextLine(t, spare), "start")
		awaitCount(t, seg, from+10)
	})
}
