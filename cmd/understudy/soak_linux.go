//go:build linux

package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
)

// soakMarkEnv marks every process of a soak's supervising process, which
// its workers and their descendants inherit: RUN.LIFE.
const soakMarkEnv = "UNDERSTUDY_SOAK"

// soakWarmup is the number of cycles of the harness left out of its
// growth figures; of a supervising process, its first tree is left out.
const soakWarmup = 200

// Growth thresholds per 1,000 cycles, past which the soak fails.
const (
	maxFdGrowth  = 1.0
	maxGorGrowth = 1.0
	maxRSSGrowth = 1024.0 // KiB
)

// soakConfig is a soak's command line.
type soakConfig struct {
	For, LifeMin, LifeMax, TreeMin, TreeMax time.Duration
	Workers, Hogs, FaultMin, FaultMax       int
	Seed                                    uint64
	JSON, LeaveBehind                       bool
	Kinds                                   []string
	Heartbeat                               [2]time.Duration // interval, timeout
}

func soakCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var c soakConfig
	fs.DurationVar(&c.For, "for", 10*time.Minute, "")
	fs.IntVar(&c.Workers, "workers", 32, "")
	fs.IntVar(&c.Hogs, "hog", runtime.NumCPU(), "")
	fs.Uint64Var(&c.Seed, "seed", 0, "")
	fs.BoolVar(&c.JSON, "json", false, "")
	// The rhythm; and, for tests, a process left behind on purpose.
	fs.DurationVar(&c.LifeMin, "life-min", 0, "")
	fs.DurationVar(&c.LifeMax, "life-max", 0, "")
	fs.DurationVar(&c.TreeMin, "tree-min", 5*time.Second, "")
	fs.DurationVar(&c.TreeMax, "tree-max", 15*time.Second, "")
	fs.IntVar(&c.FaultMin, "fault-min", 500, "")
	fs.IntVar(&c.FaultMax, "fault-max", 3000, "")
	fs.BoolVar(&c.LeaveBehind, "leave-behind", false, "")
	kinds := fs.String("kinds", "", "")
	heartbeat := fs.String("heartbeat", "10ms/100ms", "")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, soakUsage)
		return exitOK
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("no arguments, only flags: %q", fs.Args())
	}
	if err == nil {
		err = c.validate(fs, *kinds, *heartbeat)
	}
	if err != nil {
		fmt.Fprintf(stderr, "understudy soak: %v\n\n%s", err, soakUsage)
		return exitUsage
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	rep, err := runSoak(c, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "understudy soak: %v\n", err)
		return exitInvalid
	}
	if c.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.print(stdout)
	}
	if len(rep.Failures) > 0 {
		return exitFailed
	}
	return exitOK
}

// validate checks the flags, naming the first bad one and its value, and
// fills in the life defaults.
func (c *soakConfig) validate(fs *flag.FlagSet, kinds, heartbeat string) error {
	bad := func(name, want string) error {
		return fmt.Errorf("--%s %s: want %s", name, fs.Lookup(name).Value, want)
	}
	switch {
	case c.For < time.Second:
		return bad("for", "a duration of 1s or more, such as 10m")
	case c.Workers < 1 || c.Workers > 1024:
		return bad("workers", "1 to 1024")
	case c.Hogs < 0 || c.Hogs > 64:
		return bad("hog", "0 to 64 busy loops")
	case c.TreeMin <= 0:
		return bad("tree-min", "a positive duration")
	case c.TreeMax < c.TreeMin:
		return bad("tree-max", "at least --tree-min")
	case c.FaultMin < 0:
		return bad("fault-min", "0 or more milliseconds")
	case c.FaultMax < c.FaultMin:
		return bad("fault-max", "at least --fault-min")
	case c.LifeMin < 0:
		return bad("life-min", "a positive duration")
	}
	c.Kinds = soakKinds
	if kinds != "" {
		c.Kinds = nil
		for _, k := range strings.Split(kinds, ",") {
			if !slices.Contains(soakKinds, k) {
				return fmt.Errorf("--kinds %s: no kind %q: want a comma-separated list of %s", kinds, k, strings.Join(soakKinds, ", "))
			}
			if !slices.Contains(c.Kinds, k) {
				c.Kinds = append(c.Kinds, k)
			}
		}
	}
	iv, to, ok := strings.Cut(heartbeat, "/")
	i, err1 := time.ParseDuration(iv)
	t, err2 := time.ParseDuration(to)
	if !ok || err1 != nil || err2 != nil || i <= 0 || t <= i {
		return fmt.Errorf("--heartbeat %s: want INTERVAL/TIMEOUT, such as 10ms/100ms, the timeout above the interval", heartbeat)
	}
	c.Heartbeat = [2]time.Duration{i, t}
	if c.LifeMin == 0 {
		c.LifeMin = min(max(c.For/20, 2*c.TreeMax), 60*time.Second)
	}
	if c.LifeMax == 0 {
		c.LifeMax = max(c.LifeMin, min(3*c.LifeMin, 90*time.Second))
	}
	if c.LifeMax < c.LifeMin {
		return bad("life-max", "at least --life-min")
	}
	return nil
}

const soakUsage = `Usage: understudy soak [--for D] [--workers N] [--hog N] [--seed S] [--json]

Runs the fault matrix for a while, with busy loops beside it, and reports
what happened. It starts --hog nice-0 busy loops, then, one after another,
supervising processes (understudy re-executed), each running trees of
--workers generated children, each tree for a few seconds, then stopped.
The children fail in every way a worker can: SIGKILL, SIGSEGV, SIGSTOP
(a hang), exit 0 (transient), exit 3, ignoring SIGTERM (killed at the stop),
a child in its group and a setsid daemon (both must end with it), never
ready (a start timeout), a crash loop past a nested supervisor's intensity;
beside them, a worker that floods its stdout and healthy workers, which
must never be called hung nor restarted. Now and then (see the rhythm) the
supervising process itself is SIGKILLed, and every process it started must
be gone at once (its keeper ends them).

It prints the faults injected and survived, the false alarms, the processes
left behind and the time until all were gone, the growth of descriptors,
goroutines and resident memory per 1,000 cycles, the time to call a
stopped worker hung and to restart a killed one, and the machine's CPU
pressure meanwhile. A stopped worker may be restarted before its killed
process is reaped (the supervisor waits 5s past its grace, then goes on
without its exit): it counts as survived, and as "restarted before the
kill was reaped"; a process still there at its tree's end is left behind.

Growth: a cycle is one fault handled; memory is anonymous and shared
pages after a garbage collection that returns the freed heap. The harness
is sampled every second and fitted after its first 200 cycles. Each
supervising process is sampled at its trees' ends, and each of its lives
is fitted on its own over its second half: its first tree end and the
first half of its cycles are its warm-up, the heap growing to its steady
size, which a leak outlasts. The figure is the median of the lives'
slopes, each weighted by how closely its samples fix it, so that a life
whose tree ends caught a few MiB more live heap than the others (seen on
a loaded machine) cannot make it alone. A leak raises every life's slope.

Flags:
  --for D          how long to run (default 10m)
  --workers N      children of each tree (default 32)
  --hog N          nice-0 busy loops beside it (default: one per CPU)
  --seed S         the seed of the trees and their faults (default: the
                   time; printed, so that a run can be repeated)
  --kinds LIST     the kinds of children, comma-separated (default all:
                   sigkill, sigsegv, sigstop, exit0, exitN, ignore-term,
                   grandchild, never-ready, flood, crashloop, healthy)
  --heartbeat I/T  every child's heartbeat interval and timeout
                   (default 10ms/100ms)
  --json           print the report as one JSON object

The rhythm (defaults for --for 10m):
  --tree-min D, --tree-max D    how long each tree runs (5s to 15s)
  --life-min D, --life-max D    how long each supervising process runs
                                from its first tree's start until its
                                SIGKILL (--for/20 to three times that,
                                within 2 trees and 90s)
  --fault-min MS, --fault-max MS  how long a child runs before its
                                fault (500 to 3000 ms)

Examples:
  understudy soak --for 10m
  understudy soak --for 1m --workers 8 --hog 0 --json
  understudy soak --for 60s --workers 8 --kinds healthy --heartbeat 2ms/5ms \
      --tree-min 60s --tree-max 60s --life-min 60s

Exit status:
  0  every fault handled as expected, no false alarm, nothing left behind,
     no growth over 1 descriptor, 1 goroutine or 1 MiB per 1,000 cycles
  1  the soak could not run
  2  usage
  3  something failed: the report says what
`

// soakReport is what a soak prints.
type soakReport struct {
	Duration    string   `json:"duration"`
	Kinds       []string `json:"kinds"`
	Workers     int      `json:"workers"`
	Hogs        int      `json:"hogs"`
	Seed        uint64   `json:"seed"`
	Containment string   `json:"containment"`
	PSISome     float64  `json:"psi_cpu_some_pct"` // over the run
	PSIFull     float64  `json:"psi_cpu_full_pct"`
	CanaryMaxMs float64  `json:"canary_max_ms"` // the worst lateness of a 5 ms sleep in the harness

	Injected  map[string]int `json:"faults_injected"`
	Survived  map[string]int `json:"faults_survived"`
	Cut       int            `json:"faults_cut_short"` // outcome still pending when its tree was stopped
	SupKilled int            `json:"supervisor_sigkilled"`
	SupClean  int            `json:"supervisor_sigkilled_clean"` // every process gone, none left behind
	// SupUnreaped: SIGKILLed, it could not be reaped within reapMax.
	SupUnreaped int `json:"supervisor_unreaped"`
	Trees       int `json:"tree_ends"`

	FalseAlarms   int      `json:"false_alarms"`
	FalseHung     int      `json:"false_alarms_hung"`
	FalseRestarts int      `json:"false_alarms_restarts"`
	LeftBehind    int      `json:"left_behind"`
	LeftAfterKill int      `json:"left_behind_after_supervisor_sigkill"`
	LeftAfterTree int      `json:"left_behind_after_tree_end"`
	AllGoneP50Ms  float64  `json:"all_gone_p50_ms"` // SIGKILL of the supervising process to every process of it gone
	AllGoneMaxMs  float64  `json:"all_gone_max_ms"`
	HangP50Ms     float64  `json:"hang_silence_p50_ms"` // sigstop: silence when confirmed hung
	HangP99Ms     float64  `json:"hang_silence_p99_ms"`
	HangUnseen    int      `json:"hang_exit_unseen"` // sigstop: restarted before the killed process was reaped
	RestartP50Ms  float64  `json:"restart_p50_ms"`   // sigkill: death to ready again
	RestartP99Ms  float64  `json:"restart_p99_ms"`
	Heartbeat     string   `json:"heartbeat"` // interval/timeout
	Growth        growth   `json:"growth_per_1000_cycles"`
	Failures      []string `json:"failures"` // every unexpected outcome (the first 50)
	FailureCount  int      `json:"failure_count"`
}

// growth is the slope of each figure per 1,000 cycles, for the
// supervising processes (the weighted median of their lives' slopes, see
// slope) and for the harness; NaN (null in JSON) when too few cycles
// followed the warm-up.
type growth struct {
	Cycles       int      `json:"cycles_fitted"` // supervising processes
	Fds          *float64 `json:"fds"`
	Goroutines   *float64 `json:"goroutines"`
	RSSMiB       *float64 `json:"rss_mib"`
	HarnessFds   *float64 `json:"harness_fds"`
	HarnessGor   *float64 `json:"harness_goroutines"`
	HarnessRSS   *float64 `json:"harness_rss_mib"`
	HarnessCycle int      `json:"harness_cycles_fitted"`
}

// sample is one growth sample: a cycle count and the three figures.
type sample struct {
	life, x int
	fd, g   float64
	rss     float64 // KiB
}

// soaker runs one soak.
type soaker struct {
	cfg    soakConfig
	run    string
	dir    string
	stderr io.Writer
	exe    string
	rng    *rand.Rand

	mu       sync.Mutex
	rep      soakReport
	cycles   int
	child    []sample // supervising processes
	harness  []sample
	allGone  []float64
	hang     []float64
	restarts []float64
}

func runSoak(cfg soakConfig, stderr io.Writer) (*soakReport, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("re-execute self: %w", err)
	}
	dir, err := os.MkdirTemp("", "understudy-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s := &soaker{cfg: cfg, dir: dir, stderr: stderr, exe: exe,
		run: strconv.Itoa(os.Getpid()) + "." + strconv.FormatInt(time.Now().UnixNano(), 36),
		rng: rand.New(rand.NewPCG(cfg.Seed, 0))}
	s.rep = soakReport{Duration: cfg.For.String(), Kinds: cfg.Kinds, Workers: cfg.Workers, Hogs: cfg.Hogs, Seed: cfg.Seed,
		Injected: map[string]int{}, Survived: map[string]int{}, Heartbeat: cfg.Heartbeat[0].String() + "/" + cfg.Heartbeat[1].String(), Failures: []string{}}

	hogs, err := startHogs(cfg.Hogs)
	defer stopHogs(hogs)
	if err != nil {
		return nil, err
	}
	psi0, _ := readPSI()
	t0 := time.Now()
	canary := startCanary()
	end := t0.Add(cfg.For)
	for life := 1; time.Until(end) > 0; life++ {
		d := cfg.LifeMin + time.Duration(s.rng.Int64N(int64(cfg.LifeMax-cfg.LifeMin)+1))
		d = min(d, time.Until(end))
		if err := s.life(life, d); err != nil {
			return nil, err
		}
	}
	s.rep.CanaryMaxMs = ms(canary())
	if psi1, err := readPSI(); err == nil {
		el := time.Since(t0).Seconds() * 1e6
		s.rep.PSISome = round1(100 * float64(psi1[0]-psi0[0]) / el)
		s.rep.PSIFull = round1(100 * float64(psi1[1]-psi0[1]) / el)
	}
	s.finish()
	return &s.rep, nil
}

// life runs one supervising process for about d, then SIGKILLs it and
// checks that every process it started is gone.
func (s *soaker) life(life int, d time.Duration) error {
	mark := s.run + "." + strconv.Itoa(life)
	args := []string{soakTreeRole, "-seed", strconv.FormatUint(s.cfg.Seed, 10), "-life", strconv.Itoa(life),
		"-workers", strconv.Itoa(s.cfg.Workers), "-tree-min", s.cfg.TreeMin.String(), "-tree-max", s.cfg.TreeMax.String(),
		"-fault-min", strconv.Itoa(s.cfg.FaultMin), "-fault-max", strconv.Itoa(s.cfg.FaultMax),
		"-kinds", strings.Join(s.cfg.Kinds, ","), "-beat", s.cfg.Heartbeat[0].String(), "-timeout", s.cfg.Heartbeat[1].String()}
	if s.cfg.LeaveBehind {
		args = append(args, "-leave-behind")
	}
	cmd := exec.Command(s.exe, args...)
	cmd.Env = append(os.Environ(), soakMarkEnv+"="+mark, soakDirEnv+"="+s.dir)
	cmd.Dir = s.dir
	var errTail tailBuffer
	cmd.Stderr = &errTail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the supervising process: %w", err)
	}
	exited := make(chan struct{})
	up := make(chan struct{}) // its first tree is up
	go func() {
		defer close(exited)
		first := true
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l soakLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				s.take(life, l)
				if l.T == "tree" && first {
					close(up)
					first = false
				}
			}
		}
	}()
	// Its life is counted from its first tree's start (a minute at most).
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for alive, waitUp := true, up; alive; {
		select {
		case <-waitUp:
			waitUp = nil
			timer.Reset(d)
		case <-timer.C:
			alive = false
		case <-tick.C:
			s.sampleHarness()
		case <-exited:
			cmd.Wait()
			s.fail(fmt.Sprintf("the supervising process ended on its own (%v): %s", cmd.ProcessState, errTail.String()))
			return nil
		}
	}

	// The supervisor SIGKILLed: every process carrying its mark must end.
	pids := markedPids(soakMarkEnv + "=" + mark)
	var fds []unix.PollFd
	for _, p := range pids {
		if fd, err := unix.PidfdOpen(p, 0); err == nil {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
	}
	domain := domainOf(cmd.Process.Pid)
	killed := time.Now()
	cmd.Process.Kill()
	gone := waitPidfds(fds, 5*time.Second)
	for _, f := range fds {
		unix.Close(int(f.Fd))
	}
	reaped := reapedWithin(reaper(cmd, exited), reapMax)
	time.Sleep(time.Until(killed.Add(100 * time.Millisecond)))
	left := markedPids(soakMarkEnv + "=" + mark)
	if domain != "" {
		for _, p := range cgroupPids(domain) {
			if !slices.Contains(left, p) {
				left = append(left, p)
			}
		}
	}
	s.mu.Lock()
	s.rep.SupKilled++
	if gone >= 0 && len(left) == 0 && reaped {
		s.rep.SupClean++
	}
	if !reaped {
		s.rep.SupUnreaped++
	}
	if gone >= 0 {
		s.allGone = append(s.allGone, ms(gone))
	}
	s.mu.Unlock()
	if gone < 0 {
		s.fail(fmt.Sprintf("supervisor SIGKILLed: not all of its %d processes were gone 5s later", len(pids)))
	}
	if !reaped {
		s.fail(fmt.Sprintf("supervisor SIGKILLed: pid %d not reaped %v later (its threads did not run to their end)", cmd.Process.Pid, reapMax))
	}
	if len(left) > 0 {
		s.mu.Lock()
		s.rep.LeftAfterKill += len(left)
		s.mu.Unlock()
		s.fail(fmt.Sprintf("supervisor SIGKILLed: %d processes left behind 100ms later: %s", len(left), describePids(left)))
		for _, p := range left {
			syscall.Kill(p, syscall.SIGKILL)
		}
	}
	return nil
}

// reapMax bounds the wait for a SIGKILLed supervising process to be
// reaped. Its end needs each of its threads to run once more; a zombie
// whose threads cannot (another program's real-time loop holding every
// CPU) would otherwise hold the soak for as long.
const reapMax = 30 * time.Second

// reaper reaps cmd, SIGKILLed, and reads its output to the end (exited
// closed) in a goroutine of its own: the channel it returns is closed
// once both are done. A process that cannot end leaves the goroutine
// waiting; reapedWithin bounds the caller's wait.
func reaper(cmd *exec.Cmd, exited <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		<-exited
		close(done)
	}()
	return done
}

// reapedWithin waits at most d for done (reaper's) and reports whether it
// came.
func reapedWithin(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// take records one line of a supervising process.
func (s *soaker) take(life int, l soakLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.rep
	switch l.T {
	case "tree":
		if l.Cgr {
			r.Containment = "cgroup v2"
		} else if r.Containment == "" {
			r.Containment = "process groups"
		}
	case "fault":
		s.cycles++
		r.Injected[l.Kind]++
		if l.OK {
			r.Survived[l.Kind]++
		} else {
			s.failLocked(l.Kind + ": " + l.Why)
		}
		if l.Kind == "sigstop" && l.OK && l.Us > 0 {
			s.hang = append(s.hang, float64(l.Us)/1e3)
		}
		if l.Unseen {
			r.HangUnseen++
		}
	case "restart":
		s.restarts = append(s.restarts, float64(l.Us)/1e3)
	case "false":
		r.FalseAlarms++
		if l.Hung {
			r.FalseHung++
		} else {
			r.FalseRestarts++
		}
		s.failLocked("false alarm on " + l.Kind + ": " + l.Why)
	case "cut":
		r.Cut++
	case "end":
		r.Trees++
		s.child = append(s.child, sample{life: life, x: l.Cycle, fd: float64(l.Fds), g: float64(l.Gor), rss: float64(l.RSS)})
		if l.Left > 0 {
			r.LeftAfterTree += l.Left
			s.failLocked(fmt.Sprintf("tree end: %d processes left behind", l.Left))
		}
	case "err":
		s.failLocked(l.Why)
	}
}

func (s *soaker) fail(why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(why)
}

func (s *soaker) failLocked(why string) {
	s.rep.FailureCount++
	if len(s.rep.Failures) < 50 {
		s.rep.Failures = append(s.rep.Failures, why)
	}
}

// sampleHarness takes a growth sample of the harness itself.
func (s *soaker) sampleHarness() {
	fds, g, rss := selfUsage()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.harness = append(s.harness, sample{x: s.cycles, fd: float64(fds), g: float64(g), rss: float64(rss)})
}

// finish computes the figures and the failures they make.
func (s *soaker) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.rep
	if r.Containment == "" {
		r.Containment = "unknown (no tree started)"
	}
	r.LeftBehind = r.LeftAfterKill + r.LeftAfterTree
	r.AllGoneP50Ms, r.AllGoneMaxMs = pct(s.allGone, 50), pct(s.allGone, 100)
	r.HangP50Ms, r.HangP99Ms = pct(s.hang, 50), pct(s.hang, 99)
	r.RestartP50Ms, r.RestartP99Ms = pct(s.restarts, 50), pct(s.restarts, 99)
	g := &r.Growth
	var n int
	g.Fds, n = slope(s.child, func(p sample) float64 { return p.fd }, 1, 0, true)
	g.Goroutines, _ = slope(s.child, func(p sample) float64 { return p.g }, 1, 0, true)
	g.RSSMiB, _ = slope(s.child, func(p sample) float64 { return p.rss }, 1024, 0, true)
	g.Cycles = n
	g.HarnessFds, n = slope(s.harness, func(p sample) float64 { return p.fd }, 1, soakWarmup, false)
	g.HarnessGor, _ = slope(s.harness, func(p sample) float64 { return p.g }, 1, soakWarmup, false)
	g.HarnessRSS, _ = slope(s.harness, func(p sample) float64 { return p.rss }, 1024, soakWarmup, false)
	g.HarnessCycle = n
	over := func(what string, v *float64, limit float64) {
		if v != nil && *v > limit {
			s.failLocked(fmt.Sprintf("growth: %s +%.2f per 1,000 cycles (limit %g)", what, *v, limit))
		}
	}
	over("supervising process descriptors", g.Fds, maxFdGrowth)
	over("supervising process goroutines", g.Goroutines, maxGorGrowth)
	over("supervising process RSS MiB", g.RSSMiB, maxRSSGrowth/1024)
	over("harness descriptors", g.HarnessFds, maxFdGrowth)
	over("harness goroutines", g.HarnessGor, maxGorGrowth)
	over("harness RSS MiB", g.HarnessRSS, maxRSSGrowth/1024)
	total := 0
	for _, n := range r.Injected {
		total += n
	}
	if total == 0 && r.SupKilled == 0 {
		s.failLocked("nothing was checked: no fault was injected, no supervising process killed")
	}
}

// slope returns the growth of y per 1,000 cycles (in unit) and the number
// of cycles fitted; nil when fewer than 100 were.
//
// Each life of a process is fitted on its own, by least squares, over its
// samples past its warm-up: those from cycle warmup on, and, with
// skipWarm, but the first of the life and those of the first half of its
// cycles. A supervising process's Go heap, its fragmentation and the
// runtime's own structures grow toward their steady size after its start;
// in a life of a few trees that rise would be most of a fit over all its
// samples, and a leak keeps its slope in the second half.
//
// The figure is the median of the lives' slopes, each weighted by
// Σ(x−x̄)² over its samples (how closely they fix its slope). A leak raises
// every life's slope; a life whose tree ends caught a few MiB more live
// heap than the others (seen on a loaded machine) moves the median little,
// where it would move a pooled fit as far as it went. One life (the
// harness) gives its own slope.
func slope(ss []sample, y func(sample) float64, unit float64, warmup int, skipWarm bool) (*float64, int) {
	lives := map[int][]sample{}
	var order []int
	for _, p := range ss {
		if lives[p.life] == nil {
			order = append(order, p.life)
		}
		lives[p.life] = append(lives[p.life], p)
	}
	type fit struct{ b, w float64 }
	var fits []fit
	cycles := 0
	for _, l := range order {
		life := lives[l]
		last := 0
		for _, p := range life {
			last = max(last, p.x)
		}
		var n, sx, sy, sxx, sxy float64
		lo, hi := math.MaxInt, math.MinInt
		for i, p := range life {
			if p.x < warmup || skipWarm && (i == 0 || 2*p.x < last) {
				continue
			}
			x, v := float64(p.x), y(p)/unit
			n++
			sx += x
			sy += v
			sxx += x * x
			sxy += x * v
			lo, hi = min(lo, p.x), max(hi, p.x)
		}
		if n < 2 || hi == lo {
			continue
		}
		den := sxx - sx*sx/n
		fits = append(fits, fit{b: (sxy - sx*sy/n) / den, w: den})
		cycles += hi - lo
	}
	if cycles < 100 {
		return nil, cycles
	}
	slices.SortFunc(fits, func(a, b fit) int { return cmp.Compare(a.b, b.b) })
	var total, acc float64
	for _, f := range fits {
		total += f.w
	}
	b := fits[len(fits)-1].b
	for i, f := range fits {
		acc += f.w
		if acc > total/2 {
			b = f.b
			break
		}
		if acc == total/2 { // between two lives: halfway
			b = (f.b + fits[i+1].b) / 2
			break
		}
	}
	b = math.Round(b*1000*100) / 100
	return &b, cycles
}

// print writes the report as text.
func (r *soakReport) print(w io.Writer) {
	total, ok := 0, 0
	var parts []string
	for _, k := range append(slices.Clone(soakKinds), "supervisor") {
		if k == "healthy" {
			continue
		}
		switch k {
		case "flood":
			if slices.Contains(r.Kinds, "flood") {
				parts = append(parts, "flood on")
			}
		case "supervisor":
			parts = append(parts, fmt.Sprintf("supervisor SIGKILLed %d", r.SupKilled))
		default:
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Injected[k]))
		}
		total += r.Injected[k]
		ok += r.Survived[k]
	}
	total += r.SupKilled
	ok += r.SupClean
	fmt.Fprintf(w, "understudy soak: %s, %d workers, %d hogs, seed %d, containment %s\n", r.Duration, r.Workers, r.Hogs, r.Seed, r.Containment)
	fmt.Fprintf(w, "machine             CPU pressure (PSI) some %.1f%% full %.1f%% over the run; worst lateness of a 5ms sleep %.1fms\n", r.PSISome, r.PSIFull, r.CanaryMaxMs)
	fmt.Fprintf(w, "faults injected     %d   (%s)\n", total, strings.Join(parts, " · "))
	fmt.Fprintf(w, "faults survived     %d   (outcome as expected; %d more cut short when their tree was shut down)\n", ok, r.Cut)
	fmt.Fprintf(w, "false alarms        %d   (events on healthy workers: Hung %d, restarts %d)\n", r.FalseAlarms, r.FalseHung, r.FalseRestarts)
	fmt.Fprintf(w, "left behind         %d   (after %d tree ends and %d supervisor SIGKILLs; time to all-gone p50 %.1fms, worst %.1fms)\n",
		r.LeftBehind, r.Trees, r.SupKilled, r.AllGoneP50Ms, r.AllGoneMaxMs)
	g := r.Growth
	fmt.Fprintf(w, "growth / 1,000 cycles   supervisor: fd %s  goroutines %s  RSS %s MiB  (%d cycles fitted)\n",
		fmtGrowth(g.Fds), fmtGrowth(g.Goroutines), fmtGrowth(g.RSSMiB), g.Cycles)
	fmt.Fprintf(w, "                        harness:    fd %s  goroutines %s  RSS %s MiB  (%d cycles fitted)\n",
		fmtGrowth(g.HarnessFds), fmtGrowth(g.HarnessGor), fmtGrowth(g.HarnessRSS), g.HarnessCycle)
	fmt.Fprintf(w, "hang detection (sigstop)  silence when called hung p50 %.1fms  p99 %.1fms (heartbeat %s); restarted before the kill was reaped %d\n",
		r.HangP50Ms, r.HangP99Ms, r.Heartbeat, r.HangUnseen)
	fmt.Fprintf(w, "restart (sigkill)         death to ready again p50 %.1fms  p99 %.1fms\n", r.RestartP50Ms, r.RestartP99Ms)
	if r.FailureCount == 0 {
		fmt.Fprintln(w, "result              PASS")
		return
	}
	fmt.Fprintf(w, "result              FAIL: %d unexpected outcomes\n", r.FailureCount)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  %s\n", f)
	}
}

func fmtGrowth(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%+.2f", *v)
}

// startHogs starts n nice-0 busy loops.
func startHogs(n int) ([]*exec.Cmd, error) {
	var hogs []*exec.Cmd
	for range n {
		c := exec.Command("/bin/sh", "-c", "while :; do :; done")
		c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := c.Start(); err != nil {
			return hogs, fmt.Errorf("start a busy loop: %w", err)
		}
		hogs = append(hogs, c)
	}
	return hogs, nil
}

func stopHogs(hogs []*exec.Cmd) {
	for _, c := range hogs {
		c.Process.Kill()
		c.Wait()
	}
}

// startCanary measures how late a 5 ms sleep of this process wakes, until
// the function it returns is called, which returns the worst.
func startCanary() func() time.Duration {
	stop := make(chan struct{})
	done := make(chan time.Duration)
	go func() {
		var worst time.Duration
		for {
			t := time.Now()
			select {
			case <-stop:
				done <- worst
				return
			case <-time.After(5 * time.Millisecond):
			}
			worst = max(worst, time.Since(t)-5*time.Millisecond)
		}
	}()
	return func() time.Duration {
		close(stop)
		return <-done
	}
}

// readPSI returns the totals (µs) of /proc/pressure/cpu: some, full.
func readPSI() ([2]int64, error) {
	var out [2]int64
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return out, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, "total="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				if f[0] == "some" {
					out[0] = n
				} else {
					out[1] = n
				}
			}
		}
	}
	return out, nil
}

// markedPids returns the live (not zombie) processes whose environment
// holds mark ("NAME=VALUE").
func markedPids(mark string) []int {
	ents, _ := os.ReadDir("/proc")
	needle := []byte("\x00" + mark + "\x00")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), needle) {
			continue
		}
		if running(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// running reports whether pid is alive and not a zombie.
func running(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || len(s) < i+3 || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// domainOf returns the cgroup directory of pid's containment domain, when
// it has one (cgroup mode), or "".
func domainOf(pid int) string {
	own, _, _, err := linux.CgroupHome()
	if err != nil {
		return ""
	}
	d := filepath.Join(own.Path, "understudy."+strconv.Itoa(pid))
	if _, err := os.Stat(d); err != nil {
		return ""
	}
	return d
}

// cgroupPids returns the processes in the cgroup dir and below it.
func cgroupPids(dir string) []int {
	var out []int
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil && running(p) {
				out = append(out, p)
			}
		}
		return nil
	})
	return out
}

// waitPidfds waits until every pidfd is readable (its process ended) and
// returns how long that took, or -1 after timeout.
func waitPidfds(fds []unix.PollFd, timeout time.Duration) time.Duration {
	t0 := time.Now()
	for {
		rest := slices.DeleteFunc(slices.Clone(fds), func(f unix.PollFd) bool {
			p := []unix.PollFd{{Fd: f.Fd, Events: unix.POLLIN}}
			n, _ := unix.Poll(p, 0)
			return n > 0
		})
		if len(rest) == 0 {
			return time.Since(t0)
		}
		left := timeout - time.Since(t0)
		if left <= 0 {
			return -1
		}
		unix.Poll(rest[:1], int(max(left/time.Millisecond, 1)))
		fds = rest
	}
}

// describePids names each process: "4242 (sleep 600)".
func describePids(pids []int) string {
	var parts []string
	for _, p := range pids {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/cmdline")
		parts = append(parts, fmt.Sprintf("%d (%s)", p, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))))
	}
	return strings.Join(parts, ", ")
}

// ownedRSS returns the resident memory (KiB) this process holds, as the
// growth figures count it: what a leak would raise and nothing that
// merely settles. VmRSS, read as it is, climbs for minutes in a process
// that leaks nothing, for two reasons, and both are left out here:
//   - Pages the Go heap freed stay resident until the runtime's scavenger
//     returns them to the kernel, a little at a time, and a heap that
//     grows toward GOGC's goal before each collection leaves more of them
//     behind: debug.FreeOSMemory collects and returns them at once, so
//     what stays is live heap, goroutine stacks and the runtime's own
//     structures.
//   - The executable's code and data are file-backed pages (RssFile),
//     faulted in the first time each path runs, a rare one (a failure, a
//     supervisor's SIGKILL) minutes in; they are bounded by the file's
//     size and can be dropped and read back by the kernel at any time.
//
// What is left, RssAnon and RssShmem, holds every leak the soak looks
// for: a map or slice kept per cycle, a goroutine's stack, a C
// allocation, a worker's shared memory segment never unmapped.
func ownedRSS() int64 {
	debug.FreeOSMemory()
	b, _ := os.ReadFile("/proc/self/status")
	var kib int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "RssAnon" || k == "RssShmem") {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			kib += n
		}
	}
	return kib
}

// pct returns the p-th percentile of xs (ms), 0 for none.
func pct(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return round1(s[max(0, min(i, len(s)-1))])
}

func ms(d time.Duration) float64 { return round1(float64(d) / 1e6) }

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// oneLine is err's message on one line.
func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// discardLogger is a logger that drops every record without formatting it.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// tailBuffer keeps the last 2 KiB written to it.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
