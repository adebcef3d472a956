//go:build linux

package procbridge_test

// Random scribbling: a worker that writes values chosen from a fixed seed
// over every region of its segment (the header, the control word, its own
// lane and another's, the state, the rings' indices and data), at each
// phase of a worker's life: before Ready, while it runs as the primary,
// while it is a parked spare, as a primary that then dies, while the group
// fails over, in the middle of its commits while the supervisor reads the
// state, and while messages are in flight on the rings both ways. It runs
// against Start, StartGroup and a supervision tree with a hot-standby
// child, in a supervisor process of its own (a frozen supervisor cannot
// judge itself), which asserts after each run that it is still responsive,
// that every call it made on the segment during the attack returned, that
// every end it reported is legal, that honest processes of the group never
// panicked, and that an honest sibling with a segment of its own was not
// touched.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
	"github.com/understudy/understudy/supervision"
)

// scribbler writes random values over a segment, the way a buggy or
// hostile worker in any language could.
type scribbler struct {
	seg     []byte
	rng     *rand.Rand
	lane    int
	lanes   int
	regions [][2]int // [from, to) byte ranges: the header, the control line, the header's tail, its own lane, another, the state, the rings' headers and data
	weights []int
	state   int
	ring    int
	tid     uint32
}

// newScribbler reads the layout from the header before any scribbling.
func newScribbler(seg []byte, lane int, seed uint64, phase string) *scribbler {
	le := binary.LittleEndian
	lanes := int(le.Uint32(seg[28:]))
	laneSize := int(le.Uint32(seg[32:]))
	state := int(le.Uint32(seg[36:]))
	ring := int(le.Uint32(seg[40:]))
	lanesOff := int(le.Uint64(seg[56:]))
	stateOff := int(le.Uint64(seg[64:]))
	ringsOff := int(le.Uint64(seg[72:]))
	ph := uint64(0)
	for _, c := range phase {
		ph = ph*31 + uint64(c)
	}
	s := &scribbler{seg: seg, rng: rand.New(rand.NewPCG(seed, ph)), lane: lane, lanes: lanes, state: state, ring: ring, tid: uint32(unix.Gettid())}
	other := (lane + 1) % lanes
	add := func(from, to, weight int) {
		if to > len(seg) {
			to = len(seg)
		}
		if from >= to {
			from, to, weight = 0, 0, 0
		}
		s.regions = append(s.regions, [2]int{from, to})
		s.weights = append(s.weights, weight)
	}
	add(0, 128, 1)
	add(128, 192, 3)
	add(192, 256, 1)
	add(lanesOff+lane*laneSize, lanesOff+(lane+1)*laneSize, 3)
	if lanes > 1 {
		add(lanesOff+other*laneSize, lanesOff+(other+1)*laneSize, 2)
	} else {
		add(0, 0, 0)
	}
	if state > 0 {
		add(stateOff, ringsOff, 3)
	} else {
		add(0, 0, 0)
	}
	if ring > 0 {
		add(ringsOff, ringsOff+192, 2) // ring 0's header; ring 1's below
		add(ringsOff+192, ringsOff+192+ring, 1)
		s.regions = append(s.regions, [2]int{ringsOff + 192 + ring, ringsOff + 2*192 + ring})
		s.weights = append(s.weights, 2)
	} else {
		add(0, 0, 0)
		add(0, 0, 0)
	}
	// The phases in the middle of an exchange aim at what is exchanged.
	focus := map[string]map[int]int{
		"mid-commit": {1: 2, 3: 2, 5: 4},
		"mid-ring":   {6: 4, 7: 2, 8: 4},
	}
	for r, x := range focus[phase] {
		s.weights[r] *= x
	}
	return s
}

// value picks a value a careless or hostile writer would pick.
func (s *scribbler) value() uint64 {
	e := atomic.LoadUint64(hU64(s.seg, hOffControl)) >> 8
	switch s.rng.IntN(18) {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return ^uint64(0)
	case 3:
		return s.rng.Uint64()
	case 4:
		return uint64(s.lanes - 1)
	case 5:
		return uint64(s.lanes)
	case 6:
		return 255
	case 7:
		return (e-1)<<8 | uint64(s.rng.IntN(s.lanes+1))
	case 8:
		return e<<8 | uint64(s.rng.IntN(256))
	case 9:
		return (e+1)<<8 | uint64(s.rng.IntN(s.lanes+1))
	case 10:
		return 1<<56 - 1
	case 11:
		return uint64(s.tid)
	case 12:
		return uint64(0x40000000 | s.tid) // owner died
	case 13:
		return uint64(0x80000000 | s.tid) // waiters
	case 14:
		return uint64(s.state + 1)
	case 15:
		return uint64(s.ring)
	case 16:
		return uint64(s.ring + 8)
	}
	return uint64(s.rng.IntN(1 << 16))
}

// step writes 1 to 64 values, each at an offset of a region picked by
// weight: 8-byte aligned mostly, 4-byte aligned often, sometimes at any
// byte. A 4-byte write is sometimes followed by a futex wake of its word.
func (s *scribbler) step() {
	total := 0
	for _, w := range s.weights {
		total += w
	}
	for range 1 + s.rng.IntN(64) {
		pick, r := s.rng.IntN(total), 0
		for i, w := range s.weights {
			if pick < w {
				r = i
				break
			}
			pick -= w
		}
		from, to := s.regions[r][0], s.regions[r][1]
		if to-from < 8 {
			continue
		}
		off := from + s.rng.IntN(to-from-7)
		v := s.value()
		switch s.rng.IntN(16) {
		case 0:
			s.seg[off] = byte(v)
		case 1, 2, 3, 4, 5:
			off &^= 3
			atomic.StoreUint32(hU32(s.seg, off), uint32(v))
			if s.rng.IntN(8) == 0 {
				unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(hU32(s.seg, off))), 1 /* FUTEX_WAKE */, 1<<30, 0, 0, 0)
			}
		default:
			off &^= 7
			atomic.StoreUint64(hU64(s.seg, off), v)
		}
	}
}

// awaitGo waits until the file path exists: the test creates it once the
// supervisor has started the whole group (within a minute).
func awaitGo(path string) {
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
}

// claim reports whether this process is the first of those started with
// path to claim the attack: the group's replacement spares, and the
// processes a tree restarts, are honest.
func claim(path string) bool {
	f, err := os.OpenFile(path+".claim", os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// scribbled says the attack is over: on stdout, and in the file path.done.
func scribbled(path string) {
	fmt.Println("scribbled")
	if f, err := os.Create(path + ".done"); err == nil {
		f.Close()
	}
}

// run scribbles a step every 100 µs for d.
func (s *scribbler) run(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		s.step()
		time.Sleep(100 * time.Microsecond)
	}
}

// honest beats and commits its count every millisecond until ctx ends,
// or, fenced, waits to be promoted again.
func honest(ctx context.Context, w *worker.Worker) {
	for n := 0; ctx.Err() == nil; n++ {
		w.Beat()
		if err := w.Commit([]byte(strconv.Itoa(n))); errors.Is(err, worker.ErrFenced) {
			if w.WaitActive(ctx) != nil {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// commitHard commits as fast as it can, beating, until ctx ends; fenced,
// it waits to be promoted again.
func commitHard(ctx context.Context, w *worker.Worker) {
	for n := 0; ctx.Err() == nil; n++ {
		if n%64 == 0 {
			w.Beat()
		}
		if err := w.Commit([]byte(strconv.Itoa(n))); errors.Is(err, worker.ErrFenced) {
			if w.WaitActive(ctx) != nil {
				return
			}
		}
	}
}

// echo answers every command on the ring with the command itself, until
// ctx ends.
func echo(ctx context.Context, w *worker.Worker) {
	buf := make([]byte, 4096)
	for ctx.Err() == nil {
		n, err := w.Recv(ctx, buf)
		if err != nil && !errors.Is(err, io.ErrShortBuffer) {
			time.Sleep(time.Millisecond)
			continue
		}
		w.Reply(buf[:n])
	}
}

func init() {
	// h-scribble scribbles over its segment at the phase Args[0], from the
	// seed Args[1], and otherwise behaves as an honest worker. After Ready,
	// it begins once the file Args[2] exists. It prints "scribbled", and
	// creates Args[2].done, when its attack is over. Only the first
	// process started with these arguments to claim the attack makes it.
	worker.Register("h-scribble", func(ctx context.Context, w *worker.Worker) error {
		phase := os.Args[1]
		seed, _ := strconv.ParseUint(os.Args[2], 10, 64)
		s := newScribbler(hostileSegment(), w.Lane(), seed, phase)
		const attack = 200 * time.Millisecond
		if phase != "before-ready" && w.Active() == (phase == "parked") || !claim(os.Args[3]) {
			phase = "honest"
		}
		switch {
		case phase == "before-ready":
			s.run(attack)
			w.Ready()
		case phase == "running" && w.Active():
			w.Ready()
			go honest(ctx, w)
			awaitGo(os.Args[3])
			s.run(attack)
		case phase == "parked" && !w.Active():
			w.Ready()
			go func() {
				awaitGo(os.Args[3])
				s.run(attack)
				scribbled(os.Args[3])
			}()
			if w.WaitActive(ctx) != nil {
				return nil
			}
			honest(ctx, w)
			return nil
		case phase == "failover" && w.Active():
			w.Ready()
			go honest(ctx, w)
			awaitGo(os.Args[3])
			s.run(attack / 2)
			scribbled(os.Args[3])
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		case phase == "mid-commit" && w.Active():
			w.Ready()
			go commitHard(ctx, w)
			awaitGo(os.Args[3])
			s.run(attack)
			scribbled(os.Args[3])
			<-ctx.Done()
			return nil
		case phase == "mid-ring" && w.Active():
			w.Ready()
			go honest(ctx, w)
			go echo(ctx, w)
			awaitGo(os.Args[3])
			s.run(attack)
			scribbled(os.Args[3])
			<-ctx.Done()
			return nil
		default: // an honest member of the group
			w.Ready()
			if w.WaitActive(ctx) != nil {
				return nil
			}
			if os.Args[1] == "mid-ring" {
				go echo(ctx, w)
			}
			honest(ctx, w)
			return nil
		}
		if phase != "parked" {
			scribbled(os.Args[3])
		}
		honest(ctx, w)
		return nil
	})
	// h-honest commits its count, one up every millisecond, from 1.
	worker.Register("h-honest", func(ctx context.Context, w *worker.Worker) error {
		w.Ready()
		for n := 1; ctx.Err() == nil; n++ {
			w.Beat()
			w.Commit([]byte(strconv.Itoa(n)))
			time.Sleep(time.Millisecond)
		}
		return nil
	})
}

// scribbleSeeds is how many seeds each phase runs: 1 to it.
func scribbleSeeds() int {
	if testing.Short() {
		return 2
	}
	return 6
}

var scribbleHeartbeat = procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 200 * time.Millisecond}

// The scenario of random scribbling.
func init() {
	hostileScenarios["scribble"] = func(t *testing.T) {
		sib := startSibling(t)
		defer sib.stop(t)
		for _, phase := range []string{"before-ready", "running", "parked", "failover", "mid-commit", "mid-ring"} {
			for seed := 1; seed <= scribbleSeeds(); seed++ {
				args := func() []string { return []string{phase, strconv.Itoa(seed), ""} }
				if phase != "parked" && phase != "failover" {
					t.Run(fmt.Sprintf("Start/%s/%d", phase, seed), func(t *testing.T) {
						scribbleAlone(t, args())
						sib.check(t)
					})
				}
				if phase == "before-ready" {
					continue
				}
				t.Run(fmt.Sprintf("StartGroup/%s/%d", phase, seed), func(t *testing.T) {
					scribbleGroup(t, args())
					sib.check(t)
				})
				t.Run(fmt.Sprintf("Tree/%s/%d", phase, seed), func(t *testing.T) {
					scribbleTree(t, args())
					sib.check(t)
				})
			}
		}
	}
}

// hammering is the supervisor's side of an exchange the scribbler attacks:
// for mid-commit, reads of the state and the control word; for mid-ring,
// commands sent and replies received; none for the other phases. Every
// call must return, and with an error of a kind the call documents.
type hammering struct {
	stop    chan struct{}
	done    chan struct{}
	calls   int
	slowest time.Duration
	odd     error // an error of no documented kind
	bad     error // the last error matching ErrBadSegment
}

// hammer begins the exchange of phase on seg.
func hammer(seg *procbridge.Segment, phase string) *hammering {
	h := &hammering{stop: make(chan struct{}), done: make(chan struct{})}
	if seg == nil || phase != "mid-commit" && phase != "mid-ring" {
		close(h.done)
		return h
	}
	go func() {
		defer close(h.done)
		buf := make([]byte, 4096)
		note := func(err error, ok ...error) {
			switch {
			case err == nil:
			case errors.Is(err, procbridge.ErrBadSegment):
				h.bad = err
			default:
				for _, k := range ok {
					if errors.Is(err, k) {
						return
					}
				}
				h.odd = err
			}
		}
		for {
			select {
			case <-h.stop:
				return
			default:
			}
			start := time.Now()
			if phase == "mid-commit" {
				_, _, err := seg.State(buf)
				note(err, procbridge.ErrNoState)
				seg.Control()
			} else {
				note(seg.Send([]byte(fmt.Sprintf("command %d", h.calls))), procbridge.ErrRingFull)
				_, err := seg.Recv(buf, time.Millisecond)
				note(err, os.ErrDeadlineExceeded, io.ErrShortBuffer)
			}
			h.slowest = max(h.slowest, time.Since(start))
			h.calls++
		}
	}()
	return h
}

// check ends the exchange and checks it: every call returned, within
// seconds, with an error of a documented kind. It returns the last error
// that matched ErrBadSegment, or nil.
func (h *hammering) check(t *testing.T) error {
	t.Helper()
	close(h.stop)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		t.Fatal("a call on the scribbled segment did not return")
	}
	assert.Less(t, h.slowest, 5*time.Second, "the slowest call on the segment")
	assert.NoError(t, h.odd, "an error of no documented kind")
	if h.calls > 0 {
		t.Logf("%d calls on the segment during the attack, the slowest %v; bad segment: %v", h.calls, h.slowest, h.bad)
	}
	return h.bad
}

// scribbleAlone runs the attack in a worker of its own.
func scribbleAlone(t *testing.T, args []string) {
	args[2] = t.TempDir() + "/go"
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-scribble", Args: args, StateSize: 64, RingSize: 4096,
		Stdout: procbridge.Lines, Heartbeat: scribbleHeartbeat})
	if err != nil {
		// Scribbled before Ready: a start error, and nothing left.
		t.Logf("start: %v", err)
		return
	}
	defer p.Kill()
	seg, _ := p.Segment()
	h := hammer(seg, args[0])
	require.NoError(t, os.WriteFile(args[2], nil, 0o600))
	awaitScribbled(t, p.Lines(), p.Done())
	bad := h.check(t)
	pokeSegment(t, p)
	assertResponsive(t)
	_, err = p.Stop(ctxT(t))
	require.NoError(t, err, "a stop returns")
	var events []procbridge.Event
	for e := range p.Events() {
		events = append(events, e)
	}
	assertLegalEnd(t, events)
	if bad != nil && args[0] == "mid-ring" {
		// A corrupt ring is the worker's doing: it was not left running.
		x := events[len(events)-1].(procbridge.Exited)
		assert.NotEqual(t, procbridge.ExitStopped, x.Exit.Kind, "a worker that corrupted its ring (%v)", bad)
	}
}

// scribbleGroup runs the attack in a group of a primary and a spare.
func scribbleGroup(t *testing.T, args []string) {
	args[2] = t.TempDir() + "/go"
	g, err := procbridge.StartGroup(ctxT(t), procbridge.Spec{Worker: "h-scribble", Args: args, StateSize: 64, RingSize: 4096,
		Stdout: procbridge.Lines, Heartbeat: scribbleHeartbeat}, 1)
	require.NoError(t, err)
	defer g.Stop(context.Background())
	scribbler := g.Primary()
	if args[0] == "parked" {
		scribbler = g.Spares()[0]
	}
	seg, _ := scribbler.Segment()
	h := hammer(seg, args[0])
	require.NoError(t, os.WriteFile(args[2], nil, 0o600))
	awaitScribbled(t, scribbler.Lines(), scribbler.Done())
	h.check(t)
	pokeSegment(t, g.Primary())
	assertResponsive(t)
	stopped := make(chan error, 1)
	go func() { stopped <- g.Stop(context.Background()) }()
	select {
	case <-stopped:
	case <-time.After(30 * time.Second):
		t.Fatal("the group's Stop did not return")
	}
	for e := range g.Events() {
		t.Logf("group: %v", e)
		switch e := e.(type) {
		case procbridge.SpareDown:
			if e.Exit != nil && e.Pid != scribbler.Pid() {
				assert.False(t, e.Exit.Signal == 0 && e.Exit.Code == 2, "an honest spare panicked: %v", e)
			}
		case procbridge.Exited:
			if e.Pid != scribbler.Pid() {
				assert.False(t, e.Exit.Signal == 0 && e.Exit.Code == 2, "an honest primary panicked: %v", e)
			}
			assertLegalExit(t, e)
		}
	}
}

// scribbleTree runs the attack in a hot-standby child (a primary and a
// spare) of a supervision tree, which restarts it when its group goes
// down. After the attack the tree still answers, starts and stops a new
// child, and stops; every end it reported is legal.
func scribbleTree(t *testing.T, args []string) {
	args[2] = t.TempDir() + "/go"
	var mu sync.Mutex
	var events []supervision.Event
	spec := supervision.Spec{
		Intensity: supervision.Intensity{MaxRestarts: 1000, Period: time.Minute},
		Children: []supervision.ChildSpec{{
			Name: "scribbled", Restart: supervision.Permanent, Standby: 1,
			Process: &procbridge.Spec{Worker: "h-scribble", Args: args, StateSize: 64, RingSize: 4096,
				Stdout: procbridge.Discard, Heartbeat: scribbleHeartbeat},
		}},
	}
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{OnEvent: func(ev supervision.Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}})
	require.NoError(t, err)
	defer tree.Kill()
	root := tree.Root()
	var info supervision.ChildInfo
	waitFor(t, "the child's spare", func() bool {
		info = treeChild(t, root, "scribbled")
		return info.Group != nil && len(info.Spares) == 1
	})
	scribbler := info.Pid
	if args[0] == "parked" {
		scribbler = info.Spares[0]
	}
	seg, _ := info.Group.Primary().Segment()
	h := hammer(seg, args[0])
	require.NoError(t, os.WriteFile(args[2], nil, 0o600))
	waitFor(t, "the scribbler's attack to end", func() bool {
		_, err := os.Stat(args[2] + ".done")
		return err == nil || syscall.Kill(scribbler, 0) != nil
	})
	h.check(t)
	if info := treeChild(t, root, "scribbled"); info.Group != nil {
		pokeSegment(t, info.Group.Primary())
	}
	assertResponsive(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = root.StartChild(ctx, supervision.ChildSpec{Name: "canary",
		Process: &procbridge.Spec{Worker: "h-honest", StateSize: 64, Heartbeat: scribbleHeartbeat}})
	require.NoError(t, err, "the tree starts a new child")
	require.NoError(t, root.TerminateChild(ctx, "canary"), "and stops it")
	_, err = tree.Stop(ctx)
	require.NoError(t, err, "the tree stops")

	mu.Lock()
	defer mu.Unlock()
	for _, ev := range events {
		if ev.EventHeader().Child != "scribbled" {
			continue
		}
		t.Logf("tree: %v", ev)
		switch ev := ev.(type) {
		case supervision.ChildExited:
			if ev.Exited == nil {
				continue
			}
			if ev.Exited.Pid != scribbler {
				assert.False(t, ev.Exited.Exit.Signal == 0 && ev.Exited.Exit.Code == 2, "an honest primary panicked: %v", ev)
			}
			assertLegalExit(t, *ev.Exited)
		case supervision.ChildProcess:
			if sd, ok := ev.Event.(procbridge.SpareDown); ok && sd.Exit != nil && sd.Pid != scribbler {
				assert.False(t, sd.Exit.Signal == 0 && sd.Exit.Code == 2, "an honest spare panicked: %v", ev)
			}
		}
	}
}

// treeChild returns what the tree says of its child name, within seconds.
func treeChild(t *testing.T, s *supervision.Supervisor, name string) supervision.ChildInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := s.Children(ctx)
	require.NoError(t, err, "the tree answers")
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no child %s", name)
	return supervision.ChildInfo{}
}

// awaitScribbled waits until the scribbler says its attack is over, or
// has ended.
func awaitScribbled(t *testing.T, lines <-chan procbridge.Line, done <-chan struct{}) {
	t.Helper()
	select {
	case <-lines:
	case <-done:
	case <-time.After(deadline):
		t.Fatal("the scribbler did not finish its attack")
	}
}

// pokeSegment reads the state and sends and receives on the rings of p's
// segment: each returns, with an error or not.
func pokeSegment(t *testing.T, p *procbridge.Process) {
	t.Helper()
	seg, _ := p.Segment()
	if seg == nil {
		return
	}
	buf := make([]byte, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		seg.State(buf)
		seg.Control()
		seg.Send([]byte("hello"))
		seg.Recv(buf, 10*time.Millisecond)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a read of the scribbled segment did not return")
	}
}

// assertLegalEnd checks a process's whole event stream: Ready first,
// Exited last and once, at most one reason for a kill between them.
func assertLegalEnd(t *testing.T, events []procbridge.Event) {
	t.Helper()
	require.NotEmpty(t, events)
	assert.IsType(t, procbridge.Ready{}, events[0], "%v", events)
	x, ok := events[len(events)-1].(procbridge.Exited)
	require.True(t, ok, "Exited last: %v", events)
	kills := 0
	for _, e := range events[1 : len(events)-1] {
		switch e.(type) {
		case procbridge.Hung, procbridge.Violated:
			kills++
		case procbridge.Dying:
		default:
			t.Errorf("%T between Ready and Exited: %v", e, events)
		}
	}
	assert.LessOrEqual(t, kills, 1, "%v", events)
	assertLegalExit(t, x)
}

// assertLegalExit checks an end's kind against its error.
func assertLegalExit(t *testing.T, x procbridge.Exited) {
	t.Helper()
	switch x.Exit.Kind {
	case procbridge.ExitClean, procbridge.ExitStopped:
		assert.NoError(t, x.Err, "%v", x)
	case procbridge.ExitCode, procbridge.ExitSignal, procbridge.ExitKilledHung, procbridge.ExitNotReady, procbridge.ExitKilledViolation:
		assert.Error(t, x.Err, "%v", x)
	default:
		t.Errorf("an end of no known kind: %v", x)
	}
	if x.Exit.Kind == procbridge.ExitKilledViolation {
		assert.ErrorIs(t, x.Err, procbridge.ErrBadSegment)
	}
}

// sibling is an honest worker with a segment of its own, which a
// scribbler must not reach.
type sibling struct {
	p    *procbridge.Process
	seg  *procbridge.Segment
	last int
}

func startSibling(t *testing.T) *sibling {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "h-honest", StateSize: 64, Heartbeat: scribbleHeartbeat})
	require.NoError(t, err)
	require.IsType(t, procbridge.Ready{}, nextEvent(t, p))
	seg, _ := p.Segment()
	return &sibling{p: p, seg: seg}
}

// check: the sibling runs on, with no event since Ready, and its state is
// its own latest count at its own epoch.
func (s *sibling) check(t *testing.T) {
	t.Helper()
	select {
	case e := <-s.p.Events():
		t.Fatalf("the honest sibling: %v", e)
	default:
	}
	buf := make([]byte, 64)
	n, epoch, err := s.seg.State(buf)
	require.NoError(t, err)
	assert.Zero(t, epoch)
	count, err := strconv.Atoi(string(buf[:n]))
	require.NoError(t, err, "the sibling's state %q", buf[:n])
	assert.GreaterOrEqual(t, count, s.last, "the sibling's count goes on")
	s.last = count
}

func (s *sibling) stop(t *testing.T) {
	exit, err := s.p.Stop(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, procbridge.ExitStopped, exit.Kind)
}

// TestHostileScribble: random scribbling, from fixed seeds, over every
// region of the segment and at every phase, against Start, StartGroup and
// a supervision tree, with an honest sibling alongside.
func TestHostileScribble(t *testing.T) { runHostileScenarioFor(t, "scribble", 10*time.Minute) }
