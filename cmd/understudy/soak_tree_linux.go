//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// soakTreeRole is the hidden command the soak re-executes this program
// with: the supervising process, which runs generated trees one after
// another until the soak SIGKILLs it, and reports on its stdout, one JSON
// object a line (a soakLine), what happened to each fault.
const soakTreeRole = "__soak-tree"

// The fault kinds of the soak's trees (docs/performance.md lists what each
// does and what is expected of it).
var soakKinds = []string{
	"sigkill", "sigsegv", "sigstop", "exit0", "exitN", "ignore-term",
	"grandchild", "never-ready", "flood", "crashloop", "healthy",
}

// quiet reports whether a worker of kind never fails on its own: any hang
// verdict or restart of it is a false alarm.
func quiet(kind string) bool {
	return kind == "healthy" || kind == "flood" || kind == "ignore-term"
}

// soakLine is one report of the supervising process.
type soakLine struct {
	T    string `json:"t"`              // fault, false, cut, restart, tree, end, err
	Kind string `json:"k,omitempty"`    // the fault kind
	OK   bool   `json:"ok,omitempty"`   // the outcome was the expected one
	Why  string `json:"why,omitempty"`  // what happened instead, or the event
	Us   int64  `json:"us,omitempty"`   // a time, µs: hang silence, death to ready
	Left int    `json:"left,omitempty"` // end: processes left behind by the tree
	Cgr  bool   `json:"cg,omitempty"`   // tree: cgroup containment
	Hung bool   `json:"hung,omitempty"` // false: a hang verdict (else a restart)
	// Unseen: fault (sigstop): restarted before the killed process's
	// exit was seen.
	Unseen bool `json:"unseen,omitempty"`

	// Growth samples, with each fault.
	Cycle int   `json:"c,omitempty"`
	Fds   int   `json:"fd,omitempty"`
	Gor   int   `json:"g,omitempty"`
	RSS   int64 `json:"rss,omitempty"` // KiB
}

// soakTree runs the supervising role.
func soakTree(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(soakTreeRole, flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 1, "")
	life := fs.Uint64("life", 0, "")
	workers := fs.Int("workers", 32, "")
	treeMin := fs.Duration("tree-min", 5*time.Second, "")
	treeMax := fs.Duration("tree-max", 15*time.Second, "")
	faultMin := fs.Int("fault-min", 500, "")
	faultMax := fs.Int("fault-max", 3000, "")
	leave := fs.Bool("leave-behind", false, "")
	kindList := fs.String("kinds", strings.Join(soakKinds, ","), "")
	beat := fs.Duration("beat", 10*time.Millisecond, "")
	timeout := fs.Duration("timeout", 100*time.Millisecond, "")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	st := &soakState{out: json.NewEncoder(stdout), dir: os.Getenv(soakDirEnv), self: os.Getpid(),
		hb: procbridge.Heartbeat{Interval: *beat, Timeout: *timeout}}
	if *leave {
		// A process outside the tree, carrying the soak's marker: what
		// the soak must report as left behind once this process is killed.
		c := exec.Command("sleep", "600")
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := c.Start(); err == nil {
			st.planted = c.Process.Pid
			go c.Wait()
		}
	}
	rng := rand.New(rand.NewPCG(*seed, *life))
	for n := 0; ; n++ {
		kinds := treeKinds(rng, *workers, strings.Split(*kindList, ","))
		d := *treeMin + time.Duration(rng.Int64N(int64(*treeMax-*treeMin)+1))
		st.runTree(kinds, d, *faultMin, *faultMax, rng.Uint64())
	}
}

// treeKinds draws the kinds of a tree's n workers from kinds: each kind
// once while there is room, then any but flood (one flood is load enough).
func treeKinds(rng *rand.Rand, n int, kinds []string) []string {
	all := slices.Clone(kinds)
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	if n <= len(all) {
		return all[:n]
	}
	out := all
	more := slices.DeleteFunc(slices.Clone(kinds), func(k string) bool { return k == "flood" })
	if len(more) == 0 {
		return out
	}
	for len(out) < n {
		out = append(out, more[rng.IntN(len(more))])
	}
	return out
}

// soakState is the supervising process's record of its faults.
type soakState struct {
	mu      sync.Mutex
	out     *json.Encoder
	dir     string
	self    int
	planted int // the process left behind on purpose, or 0
	cycles  int
	trees   int // started
	hb      procbridge.Heartbeat
}

func (s *soakState) emit(l soakLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch l.T {
	case "fault":
		s.cycles++
	case "end":
		l.Cycle = s.cycles
		l.Fds, l.Gor, l.RSS = selfUsage()
	}
	s.out.Encode(l) // unbuffered: a line is out before a SIGKILL can cut it
}

// childState is what the checker knows of one child of the root.
type childState struct {
	kind     string
	hung     bool          // a hang verdict on this incarnation
	silence  time.Duration // its silence when confirmed
	pending  *soakLine     // an outcome waiting for its restart or termination
	diedAt   time.Time     // a sigkill's death, for the time to ready
	ignoring bool          // ignore-term: its stop is expected to need SIGKILL
	alarmed  bool          // a false alarm on this incarnation: its end and restart follow from it
	recent   []string      // its last events, for a failure's report
}

// runTree starts a tree of workers of the given kinds, lets it run for d,
// stops it, and checks that nothing of it is left.
func (s *soakState) runTree(kinds []string, d time.Duration, faultMin, faultMax int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed>>7))
	delays := []string{strconv.Itoa(faultMin), strconv.Itoa(faultMax)}
	hb := s.hb
	spec := supervision.Spec{Intensity: supervision.Intensity{MaxRestarts: 100000, Period: time.Second}}
	children := map[string]*childState{}
	var neverReady []string
	noBackoff := supervision.Backoff{Initial: -1}
	for i, k := range kinds {
		name := k + "-" + strconv.Itoa(i)
		proc := &procbridge.Spec{Worker: soakWorker, Args: append([]string{k}, delays...), Heartbeat: hb,
			Stdout: procbridge.Discard, Stderr: procbridge.Discard, Dir: s.dir, ReadyTimeout: 30 * time.Second}
		// A second to stop: a worker stopped by SIGSTOP when its tree
		// stops takes its whole grace.
		c := supervision.ChildSpec{Name: name, Process: proc, Backoff: noBackoff, Shutdown: time.Second}
		switch k {
		case "never-ready":
			neverReady = append(neverReady, name)
			continue
		case "exit0":
			c.Restart = supervision.Transient
		case "ignore-term":
			c.Shutdown = 300 * time.Millisecond
		case "flood":
			proc.Stdout = procbridge.Lines
		case "crashloop":
			crash := *proc
			crash.Args = []string{"crash", "100", "300"}
			c.Process = nil
			c.Supervisor = &supervision.Spec{
				Intensity: supervision.Intensity{MaxRestarts: 2, Period: 5 * time.Second},
				Children:  []supervision.ChildSpec{{Name: "crash", Process: &crash, Backoff: noBackoff}},
			}
		}
		spec.Children = append(spec.Children, c)
		children[name] = &childState{kind: k, ignoring: k == "ignore-term"}
	}

	before := runtime.NumGoroutine()
	events := make(chan supervision.Event, 1<<16)
	checked := make(chan struct{})
	go func() {
		defer close(checked)
		for ev := range events {
			s.check(children, ev)
		}
	}()
	opts := supervision.Options{Name: "soak", OnEvent: func(ev supervision.Event) { events <- ev }}
	// Output lines of the flood go to a logger that drops them.
	opts.Logger = discardLogger()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tree, err := supervision.Start(ctx, spec, opts)
	cancel()
	if err != nil {
		close(events)
		<-checked
		s.emit(soakLine{T: "err", Why: "the tree did not start: " + oneLine(err)})
		return
	}
	s.emit(soakLine{T: "tree", Cgr: domainOf(s.self) != ""})

	nrCtx, stopNR := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, name := range neverReady {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			s.neverReady(nrCtx, tree, name, rand.New(rand.NewPCG(seed, 1)))
		}(rng.Uint64())
	}
	select {
	case <-time.After(d):
	case <-tree.Done():
	}
	stopNR()
	wg.Wait()
	sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
	tree.Stop(sctx)
	scancel()
	werr := tree.Wait(context.Background())
	close(events)
	<-checked
	if werr != nil {
		s.emit(soakLine{T: "err", Why: "the tree failed: " + oneLine(werr)})
	}
	for name, c := range children {
		if c.pending != nil {
			s.emit(soakLine{T: "cut", Kind: c.kind})
		}
		if c.ignoring {
			s.emit(soakLine{T: "fault", Kind: c.kind, Why: name + ": no stop reported"})
		}
	}
	if s.trees++; s.trees > 1 {
		// The first tree starts this process's own long-lived goroutines
		// (procbridge's fork threads); its sample is the warm-up anyway.
		settle(runtime.NumGoroutine, before, settleMax)
	}
	s.emit(soakLine{T: "end", Left: s.leftovers()})
}

// settleMax bounds the wait for a stopped tree's goroutines to end.
const settleMax = 5 * time.Second

// settle waits, at most d, until no more goroutines run (as goroutines
// counts them) than before the tree started. Tree.Wait returns before the
// last goroutines of its actor system have ended; on a loaded machine some
// run on for seconds, and while they do they hold the system (a few MiB)
// and count as the tree's: a growth sample taken then would count them
// too. Goroutines that outlive the wait are counted: a leak makes every
// wait last d.
func settle(goroutines func() int, before int, d time.Duration) {
	for end := time.Now().Add(d); goroutines() > before && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}

// neverReady starts a worker that never says it is ready under the root,
// again and again, until ctx ends: each start must fail, on its timeout.
func (s *soakState) neverReady(ctx context.Context, tree *supervision.Tree, name string, rng *rand.Rand) {
	hb := s.hb
	for ctx.Err() == nil {
		_, err := tree.Supervisor().StartChild(ctx, supervision.ChildSpec{Name: name, Restart: supervision.Temporary,
			Process: &procbridge.Spec{Worker: soakWorker, Args: []string{"never-ready", "0", "0"}, Heartbeat: hb,
				ReadyTimeout: 300 * time.Millisecond, Stdout: procbridge.Discard, Stderr: procbridge.Discard, Dir: s.dir}})
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, procbridge.ErrStartTimeout):
			s.emit(soakLine{T: "fault", Kind: "never-ready", OK: true})
		case err == nil:
			s.emit(soakLine{T: "fault", Kind: "never-ready", Why: "started, though it never said it was ready"})
		default:
			s.emit(soakLine{T: "fault", Kind: "never-ready", Why: "not a start timeout: " + oneLine(err)})
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(500+rng.IntN(1500)) * time.Millisecond):
		}
	}
}

// check checks one event against what the child's kind expects.
func (s *soakState) check(children map[string]*childState, ev supervision.Event) {
	h := ev.EventHeader()
	if h.Supervisor != "soak" {
		return // a crash loop's own children
	}
	if g, ok := ev.(supervision.GaveUp); ok {
		s.emit(soakLine{T: "err", Why: "the root gave up: " + oneLine(g.Cause)})
		return
	}
	c := children[h.Child]
	if c == nil {
		return // never-ready
	}
	if len(c.recent) == 6 {
		c.recent = c.recent[1:]
	}
	c.recent = append(c.recent, ev.String())
	fail := func(why string) {
		switch {
		case c.alarmed:
		case quiet(c.kind):
			c.alarmed = true
			s.emit(soakLine{T: "false", Kind: c.kind, Why: ev.String()})
		default:
			if e, ok := ev.(supervision.ChildExited); ok && e.Exited != nil {
				why += s.workerError(e.Exited.Pid)
			}
			if before := c.recent[:len(c.recent)-1]; len(before) > 0 {
				why += " (after: " + strings.Join(before, "; ") + ")"
			}
			s.emit(soakLine{T: "fault", Kind: c.kind, Why: why + ": " + ev.String()})
		}
		c.pending = nil
	}
	switch e := ev.(type) {
	case supervision.ChildProcess:
		hung, ok := e.Event.(procbridge.Hung)
		if !ok {
			return
		}
		if c.kind != "sigstop" {
			if !c.alarmed {
				c.alarmed = true
				s.emit(soakLine{T: "false", Kind: c.kind, Why: ev.String(), Hung: true})
			}
			return
		}
		c.hung = true
		if hung.Err != nil {
			c.silence = hung.Err.Silence
		}
	case supervision.ChildExited:
		ok, why := expectedExit(c, e)
		if !ok || c.alarmed {
			fail(why)
			c.hung = false
			return
		}
		l := &soakLine{T: "fault", Kind: c.kind, OK: true}
		switch c.kind {
		case "sigstop":
			l.Us = c.silence.Microseconds()
		case "sigkill":
			c.diedAt = e.Time
		case "grandchild":
			if gone, why := s.descendantsGone(e.Exited.Pid); !gone {
				l.OK, l.Why = false, why
			}
		}
		c.hung = false
		c.pending = l
	case supervision.ChildRestarting:
		if c.pending == nil && !c.alarmed && c.kind == "sigstop" && c.hung && errors.Is(e.Cause, procbridge.ErrHung) {
			// Called hung and killed, then restarted with no ChildExited:
			// its process was not reaped within the bound its actor waits
			// for it (its threads kept from running to their end), so the
			// supervisor went on without the exit, which is never reported.
			// The hang was handled; whether the process ended is the tree
			// end's count of what is left behind.
			c.pending = &soakLine{T: "fault", Kind: c.kind, OK: true, Us: c.silence.Microseconds(), Unseen: true}
			c.hung = false
		}
		if c.pending == nil || c.alarmed {
			fail("restarted without a fault")
			return
		}
		if c.kind == "exit0" {
			fail("a clean exit of a transient child restarted it")
			return
		}
		s.emit(*c.pending)
		c.pending = nil
	case supervision.ChildTerminated:
		if c.pending == nil || c.kind != "exit0" {
			fail("terminated")
			return
		}
		s.emit(*c.pending)
		c.pending = nil
	case supervision.ChildReady:
		c.alarmed = false
		if !c.diedAt.IsZero() {
			s.emit(soakLine{T: "restart", Kind: c.kind, Us: e.Time.Sub(c.diedAt).Microseconds()})
			c.diedAt = time.Time{}
		}
	case supervision.ChildStopped:
		if c.ignoring && e.Reason == "shutdown" {
			c.ignoring = false
			switch {
			case e.Late:
				s.emit(soakLine{T: "fault", Kind: c.kind, Why: "not gone in time after its SIGKILL: " + ev.String()})
			case e.Killed:
				s.emit(soakLine{T: "fault", Kind: c.kind, OK: true})
			default:
				s.emit(soakLine{T: "fault", Kind: c.kind, Why: "stopped without SIGKILL: " + ev.String()})
			}
		}
	}
}

// workerError returns " (ERROR)" with the error a soak worker (pid)
// left in the soak's directory, or "".
func (s *soakState) workerError(pid int) string {
	file := filepath.Join(s.dir, "err."+strconv.Itoa(pid))
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	os.Remove(file)
	return " (" + string(b) + ")"
}

// expectedExit says whether the end e is the one c's kind expects.
func expectedExit(c *childState, e supervision.ChildExited) (bool, string) {
	if c.kind == "crashloop" {
		if errors.Is(e.Err, supervision.ErrIntensity) {
			return true, ""
		}
		return false, "not past its intensity"
	}
	if e.Exited == nil {
		return false, "no process exit"
	}
	x := e.Exited.Exit
	switch c.kind {
	case "sigkill":
		return x.Signal == syscall.SIGKILL && !c.hung, "not its SIGKILL"
	case "sigsegv":
		return x.Signal == syscall.SIGSEGV, "not SIGSEGV"
	case "sigstop":
		return c.hung && x.Signal == syscall.SIGKILL, "not killed as hung"
	case "exit0":
		return x.Signal == 0 && x.Code == 0 && e.Err == nil, "not exit 0"
	case "exitN", "grandchild":
		return x.Signal == 0 && x.Code == 3, "not exit 3"
	}
	return false, "it ended"
}

// descendantsGone checks that the descendants a grandchild worker (pid)
// started are gone now that it has ended: the child in its process group
// always; the daemon that left it (setsid) in cgroup mode only, since
// process groups cannot reach it while its supervisor lives (it ends with
// the supervisor, or here with the tree). Within a second, or it reports
// them.
func (s *soakState) descendantsGone(pid int) (bool, string) {
	file := filepath.Join(s.dir, "gc."+strconv.Itoa(pid))
	b, err := os.ReadFile(file)
	if err != nil {
		return false, "its descendants' pids: " + err.Error()
	}
	os.Remove(file)
	var pids []int
	cgroup := domainOf(s.self) != ""
	for i, f := range strings.Fields(string(b)) {
		p, err := strconv.Atoi(f)
		if err == nil && (i == 0 || cgroup) {
			pids = append(pids, p)
		}
	}
	for end := time.Now().Add(time.Second); ; {
		var alive []int
		for _, p := range pids {
			if running(p) {
				alive = append(alive, p)
			}
		}
		if len(alive) == 0 {
			return true, ""
		}
		if time.Now().After(end) {
			for _, p := range alive {
				syscall.Kill(p, syscall.SIGKILL)
			}
			return false, fmt.Sprintf("descendants %v still alive 1s after it ended", alive)
		}
		time.Sleep(time.Millisecond)
	}
}

// leftovers counts (and kills) the processes of the soak's run still
// alive after a tree's end, but this one, its keeper and the one planted
// on purpose: every process carrying the run's marker, and in cgroup mode
// every process in this process's domain.
func (s *soakState) leftovers() int {
	mark := os.Getenv(soakMarkEnv)
	var left []int
	for _, p := range markedPids(soakMarkEnv + "=" + mark) {
		if p == s.self || p == s.planted || isSoakKeeper(p) {
			continue
		}
		left = append(left, p)
	}
	if d := domainOf(s.self); d != "" {
		for _, p := range cgroupPids(d) {
			if !slices.Contains(left, p) {
				left = append(left, p)
			}
		}
	}
	for _, p := range left {
		syscall.Kill(p, syscall.SIGKILL)
	}
	return len(left)
}

// isSoakKeeper reports whether pid is a containment keeper.
func isSoakKeeper(pid int) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return err == nil && strings.Contains("\x00"+string(env), "\x00"+linux.KeeperEnv+"=")
}

// selfUsage returns this process's open descriptors, goroutines and
// resident memory (KiB, as ownedRSS counts it).
func selfUsage() (fds, goroutines int, rss int64) {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents), runtime.NumGoroutine(), ownedRSS()
}
