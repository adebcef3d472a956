//go:build linux

package procbridge

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge/internal/registry"
	"github.com/understudy/understudy/procbridge/internal/shm"
)

const (
	sigTerm = unix.SIGTERM
	sigKill = unix.SIGKILL
)

// errNotWorkerMain: this program was started as a worker but did not call
// worker.Main at the top of main.
var errNotWorkerMain = errors.New("procbridge: started as a worker, but worker.Main was not called at the top of main (or TestMain)")

func signalOf(sig int) syscall.Signal { return syscall.Signal(sig) }

// osProcess holds the Linux handles of a process.
type osProcess struct {
	pidfd    *os.File        // nil in sentinel mode
	sentinel *os.File        // read end, in sentinel mode
	nudge    chan struct{}   // the bridge signalled it (sentinel mode)
	ending   atomic.Bool     // the end is being told (watch, or a stop's awaitStop)
	dog      int             // the heartbeat watchdog timerfd, or -1; the monitor's once started
	reaped   bool            // the monitor will not watch it (set under monitor.mu)
	leaf     linux.Cgroup    // its cgroup, in cgroup mode (contain_linux.go)
	v1       []linux.V1Group // its cgroup v1 groups, for limits (limits_linux.go)
	gone     chan struct{}   // closed once it is reaped (reap_linux.go)
	boost    linux.Boosted   // its first thread, raised until it is ready (boost_linux.go)
	// stopBoostEnd ends the raise of its group since it was asked to stop
	// (boost_linux.go).
	stopBoostEnd *time.Timer
}

// start is Start with the options of a group's member or a test.
func start(ctx context.Context, spec Spec, o startOptions) (*Process, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := o.validate(&spec); err != nil {
		return nil, err
	}
	if os.Getenv(shm.EnvWorker) != "" && !registry.MainCalled() {
		return nil, errNotWorkerMain
	}
	mode := o.watch
	if mode == watchAuto {
		mode = watchSentinel
		if pidfdWorks() {
			mode = watchPidfd
		}
	}
	if mode == watchPidfd && !pidfdWorks() {
		return nil, fmt.Errorf("procbridge: start %s with a pidfd: %w", spec.name(), ErrNotSupported)
	}
	p := &Process{
		spec:      spec,
		name:      spec.name(),
		events:    make(chan Event, 8),
		lines:     make(chan Line, lineQueue),
		done:      make(chan struct{}),
		exited:    make(chan struct{}),
		started:   make(chan struct{}),
		dead:      make(chan struct{}),
		dyingDone: make(chan struct{}),
	}
	seg := o.segment
	if seg == nil {
		var err error
		seg, err = createSegment(p.name, segmentConfig{
			Lanes:     1,
			StateSize: spec.StateSize,
			RingSize:  spec.RingSize,
			Heartbeat: spec.Heartbeat,
		})
		if err != nil {
			return nil, fmt.Errorf("procbridge: start %s: %w", p.name, err)
		}
		p.ownSegment = true
	}
	if seg.seg.Fd() < 0 {
		return nil, &SpecError{Field: "segment", Value: seg.name, Reason: "closed"}
	}
	p.segment, p.seg, p.lane = seg, seg.seg, seg.seg.Lane(o.lane)
	p.lane.Reset()
	p.seg.ResetAttachVerdict()
	if testSegmentVersion != 0 {
		p.seg.SetVersionForTest(testSegmentVersion)
	}
	if err := p.spawn(mode); err != nil {
		p.releaseSegment()
		return nil, fmt.Errorf("procbridge: start %s: %w", p.name, err)
	}
	seg.members[o.lane].Store(p) // a process with a pid: one that can be blamed
	if err := p.awaitReady(ctx); err != nil {
		return nil, err
	}
	if spec.Heartbeat.Interval > 0 {
		monitor.add(p)
	}
	return p, nil
}

// spawn forks and execs the child and starts the bridge's goroutines.
func (p *Process) spawn(mode watchMode) error {
	spec := &p.spec
	if err := p.limitsSupported(); err != nil {
		return err
	}
	var path string
	argv0 := spec.Path
	if spec.Worker != "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("re-execute self: %w", err)
		}
		path, argv0 = exe, os.Args[0]
	} else {
		resolved, err := lookPath(spec.Path)
		if err != nil {
			return &SpecError{Field: "Path", Value: strconv.Quote(spec.Path), Reason: err.Error()}
		}
		path = resolved
	}
	argv := append([]string{argv0}, spec.Args...)

	if _, err := nullFile(); err != nil {
		return err
	}
	if _, err := lifelineReadEnd(); err != nil {
		return fmt.Errorf("lifeline: %w", err)
	}
	// Descriptors the child gets, and the parent's copies to close after.
	// The copies are plain descriptors, not files: an os.File registers
	// with the runtime's poller and makes system calls of its own (a
	// pipe's descriptor made blocking at each Fd), a few dozen a start.
	var toClose []*os.File
	var fdsToClose []int
	defer func() {
		for _, f := range toClose {
			f.Close()
		}
		for _, fd := range fdsToClose {
			unix.Close(fd)
		}
	}()
	// Each worker gets an open file description of the lifeline of its
	// own, so that the flags one worker sets on it (O_NONBLOCK) reach no
	// other: reopening the pipe through /proc makes a new one.
	lifeFd := uintptr(lifeline.rfd)
	if own, err := unix.Open("/proc/self/fd/"+strconv.Itoa(lifeline.rfd), unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		fdsToClose = append(fdsToClose, own)
		lifeFd = uintptr(own)
	}
	var pending []func() // output drains, started once the pid is known
	stream := func(o Output, std *os.File, isErr bool) (uintptr, error) {
		switch o.kind {
		case outputInherit:
			if own, ok := ownDescription(std); ok {
				fdsToClose = append(fdsToClose, own)
				return uintptr(own), nil
			}
			return std.Fd(), nil
		case outputWriter, outputLines:
			r, w, err := os.Pipe()
			if err != nil {
				return 0, err
			}
			toClose = append(toClose, w)
			p.out.files = append(p.out.files, r)
			pending = append(pending, func() { p.startOutput(r, o, isErr) })
			return w.Fd(), nil
		}
		return devNull.fd, nil
	}
	stdout, err := stream(spec.Stdout, os.Stdout, false)
	if err != nil {
		p.closeOutputs()
		return err
	}
	stderr, err := stream(spec.Stderr, os.Stderr, true)
	if err != nil {
		p.closeOutputs()
		return err
	}
	files := []uintptr{devNull.fd, stdout, stderr, uintptr(p.seg.Fd()), lifeFd}

	env := childEnv(spec.Env)
	env = append(env,
		shm.EnvSegmentFd+"="+strconv.Itoa(shm.FdSegment),
		shm.EnvLane+"="+strconv.Itoa(p.lane.Index()),
		shm.EnvLifelineFd+"="+strconv.Itoa(shm.FdLifeline),
	)
	if spec.Worker != "" {
		env = append(env, shm.EnvWorker+"="+spec.Worker)
	}
	role := "spare"
	if c := p.segment.ctl.Load(); int(c&0xff) == p.lane.Index() {
		role = strconv.FormatUint(c>>8, 10)
	}
	env = append(env, shm.EnvEpoch+"="+role)
	if spec.Worker != "" {
		argv[0] = workerTitle(p.name, role == "spare")
	}
	if mode == watchSentinel {
		r, w, err := os.Pipe()
		if err != nil {
			p.closeOutputs()
			return fmt.Errorf("sentinel: %w", err)
		}
		toClose = append(toClose, w)
		p.os.sentinel, p.os.nudge = r, make(chan struct{}, 1)
		files = append(files, w.Fd())
		env = append(env, shm.EnvSentinelFd+"="+strconv.Itoa(shm.FdSentinel))
	}

	if len(spec.ExtraFiles) > 0 {
		if len(files) == shm.FdSentinel {
			files = append(files, devNull.fd) // fd 5 is the sentinel's, when there is one
		}
		for _, f := range spec.ExtraFiles {
			files = append(files, f.Fd())
		}
	}

	if err := p.notifySetup(&env, &files); err != nil {
		p.closeOutputs()
		if p.os.sentinel != nil {
			p.os.sentinel.Close()
		}
		return err
	}
	path, argv = p.notifyArgv(path, argv)

	// The watchdog: a timerfd the worker re-arms as it beats, so the hang
	// monitor sleeps until a worker misses its deadline rather than waking
	// to look at healthy ones. A worker watched in batch has none. For a child that speaks sd_notify the
	// bridge re-arms it on each WATCHDOG=1, and the child never sees it.
	p.os.dog = -1
	if spec.Heartbeat.Interval > 0 && (spec.usesSDK() || spec.Notify) && !noWatchdog.Load() && !batched(spec.Heartbeat) {
		if fd, err := linux.NewTimer(); err == nil {
			p.os.dog = fd
			if spec.usesSDK() {
				env = append(env, shm.EnvWatchdogFd+"="+strconv.Itoa(len(files)))
				files = append(files, uintptr(fd))
			}
		}
	}

	pidfd := -1
	sys := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	way := pidfdWay()
	if mode == watchPidfd && way == linux.PidfdClone {
		sys.PidFD = &pidfd
	}
	leafFd := p.enterLeaf(sys, &env)
	attr := &syscall.ProcAttr{Dir: spec.Dir, Env: env, Files: files, Sys: sys}
	var pid int
	forkWatched := false // the fork put the child in the eBPF watch's map
	if err = p.makeLimits(); err == nil {
		onForkThread(func() bool {
			tid := kernelWatch.expect(p) // watched from its fork
			forkWatched = tid != 0
			if err = p.enterLimits(); err == nil {
				p.spawnMono = mono.Now()
				pid, err = syscall.ForkExec(path, argv, attr)
				if err == nil && role != "spare" {
					p.pid = pid
					p.boost() // at once: the worker is running
				}
			}
			kernelWatch.forked(tid)
			return p.leaveLimits(err == nil)
		})
	}
	p.forked(pid, leafFd, err)
	if err != nil {
		kernelWatch.abandon(p, 0)
		p.endLimits()
	}
	p.pid = pid
	p.notifyForked(err == nil)
	if err != nil {
		p.closeOutputs()
		if p.os.sentinel != nil {
			p.os.sentinel.Close()
		}
		p.closeDog()
		return fmt.Errorf("fork/exec %s: %w", path, err)
	}
	// The child has its segment's descriptor; a segment of its own goes to
	// no other process, and the mapping keeps the memory. Every descriptor
	// this process holds is copied into each child it forks and closed
	// again at the child's exec: a descriptor per worker kept open made
	// each start slower by about 85 µs per thousand workers.
	p.releaseSegment()
	for _, start := range pending {
		start()
	}
	if mode == watchPidfd {
		if pidfd < 0 {
			// The fork gave none: it refuses CLONE_PIDFD (the probe
			// found), or did not fill it in. Nothing reaps the child
			// before watch does, so its pid names it (alive, or a
			// zombie) and no one else.
			var err error
			if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
				pidfd = -1
			}
		}
		if pidfd < 0 {
			// The probe said pidfds work, so this is unexpected; kill and
			// reap the child rather than leave it unwatched.
			kernelWatch.abandon(p, pid)
			unix.Kill(-pid, unix.SIGKILL)
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
			p.endLeaf()
			p.endLimits()
			p.closeOutputs()
			p.closeDog()
			return fmt.Errorf("no pidfd for pid %d: %w", pid, ErrNotSupported)
		}
		unix.SetNonblock(pidfd, true)
		p.os.pidfd = os.NewFile(uintptr(pidfd), "pidfd")
	}
	if !spec.usesSDK() && !spec.notifies() {
		atomic.StoreUint32(p.lane.ReadyWord(), shm.ReadyYes)
	}
	p.os.gone = make(chan struct{})
	kernelWatch.add(p, forkWatched) // the notices read since its fork too; before the watch: the pid names this process till its reap
	go p.watch()
	return nil
}

// childEnv is base (or this process's environment) without the variables
// that hand a worker its segment, so a worker that starts workers does not
// hand down its own.
func childEnv(base []string) []string {
	if base == nil {
		base = os.Environ()
	}
	out := make([]string, 0, len(base)+5)
	for _, kv := range base {
		key, _, _ := strings.Cut(kv, "=")
		switch key {
		case shm.EnvSegmentFd, shm.EnvLane, shm.EnvLifelineFd, shm.EnvSentinelFd, shm.EnvWorker, shm.EnvWatchdogFd, shm.EnvEpoch, linux.MarkEnv:
			continue
		}
		out = append(out, kv)
	}
	return out
}

// awaitReady waits for the worker's ready word, its death, the timeout or
// ctx. On anything but ready it kills the worker and waits until it is
// reaped, so no process is left behind.
func (p *Process) awaitReady(ctx context.Context) error {
	word := p.lane.ReadyWord()
	w := readyWaiters.wait(word)
	timer := time.NewTimer(p.spec.readyTimeout())
	defer timer.Stop()
	var boostEnd <-chan time.Time
	if p.os.boost.Active() {
		t := time.NewTimer(boostMax - time.Duration(mono.Now()-p.spawnMono))
		defer t.Stop()
		boostEnd = t.C
	}
	var cause error
	for cause == nil {
		select {
		case <-boostEnd:
			p.unboost()
			boostEnd = nil
		case v := <-w.c:
			if v == shm.ReadyYes {
				if cause = p.becomeReady(); cause == nil {
					return nil
				}
				break
			}
			cause = fmt.Errorf("%w: ready word = %d", ErrBadSegment, v)
		case <-p.dead:
			// A worker that said ready and ended at once did start: ready
			// wins, and its Exited follows.
			if atomic.LoadUint32(word) == shm.ReadyYes {
				readyWaiters.release(w)
				if cause = p.becomeReady(); cause == nil {
					return nil
				}
				break
			}
			cause = ErrExitedBeforeReady
			// Every process of the segment can write the verdict: it is the
			// worker's only when the worker exited as one that refused.
			if v := p.seg.AttachVerdict(); v != shm.AttachOK && p.exit.Signal == 0 && p.exit.Code == shm.ExitRefused {
				cause = &refusedError{verdict: v}
			}
		case <-timer.C:
			cause = fmt.Errorf("%w: not ready after %v (its ready timeout); a program that links the SDK must call Ready", ErrStartTimeout, p.spec.readyTimeout())
		case <-ctx.Done():
			cause = context.Cause(ctx)
		}
	}
	// Release the ready waiter, kill, reap.
	p.unboost()
	close(p.dyingDone)
	close(p.started)
	readyWaiters.release(w)
	if atomic.CompareAndSwapUint32(word, shm.ReadyNo, shm.ReadyAborted) {
		linux.FutexWake(word, 1)
	}
	p.reason.CompareAndSwap(reasonNone, reasonNotReady)
	p.signalGroup(sigKill)
	<-p.done
	<-p.os.gone // a failed start leaves no zombie behind
	exit, exitErr := p.exit, p.err
	if exitErr != nil && errors.Is(cause, ErrExitedBeforeReady) {
		return fmt.Errorf("procbridge: start %s: %w", p.name, exitErr)
	}
	return fmt.Errorf("procbridge: start %s (pid %d, %v): %w", p.name, p.pid, exit, cause)
}

// ownDescription opens, for a worker whose output goes to this process's
// own stream std (Inherit), an open file description of its own of the
// same pipe or terminal: the flags a worker sets on its descriptor
// (O_NONBLOCK, O_APPEND) then reach neither this process's writes nor its
// siblings'. A regular file keeps the shared description, whose offset
// keeps the writers of the file from overwriting each other (and whose
// flags change nothing that blocks); a socket cannot be reopened, and is
// shared too. ok is false when the stream is shared.
func ownDescription(std *os.File) (own int, ok bool) {
	var fd int
	conn, err := std.SyscallConn()
	if err != nil || conn.Control(func(d uintptr) { fd = int(d) }) != nil {
		return -1, false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return -1, false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFCHR:
	default:
		return -1, false
	}
	nfd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fd), unix.O_WRONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	return nfd, true
}

// refusedError: the worker refused its segment, and said why.
type refusedError struct{ verdict shm.AttachVerdict }

func (e *refusedError) Error() string {
	return fmt.Sprintf("%v: the worker refused its segment: %v", ErrBadSegment, e.verdict)
}

func (e *refusedError) Unwrap() error { return ErrBadSegment }

// refusedHeader reports whether err says a worker refused its segment's
// header (not its lane).
func refusedHeader(err error) bool {
	var r *refusedError
	return errors.As(err, &r) && r.verdict != shm.AttachBadLane
}

// becomeReady completes a start: the header still validates, Ready is
// emitted, and the death-notice waiter starts.
func (p *Process) becomeReady() error {
	if err := p.seg.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSegment, err)
	}
	p.unboost()
	now := mono.Now()
	p.readyMono.Store(now)
	p.emitReady(Ready{Pid: p.pid, Time: mono.Time(now), SpawnToReady: time.Duration(now - p.spawnMono)})
	p.watchDying()
	close(p.started)
	return nil
}

// signalGroup signals the process group, unless the leader is reaped (its
// pid, and so the group id, could then belong to someone else).
func (p *Process) signalGroup(sig unix.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.signalGroupLocked(sig)
}

func (p *Process) signalGroupLocked(sig unix.Signal) {
	if p.reaped {
		return
	}
	defer p.nudgeSentinel()
	if sig == sigKill {
		defer p.hastenLocked() // once it is sent
	}
	if sig == sigTerm {
		p.hastenStopLocked() // before the signal: the threads it wakes run at once
	}
	if sig == sigTerm && p.os.pidfd != nil && !unraised.Load() {
		select {
		case stopWaiters <- struct{}{}:
			go p.awaitStop()
		default: // as many as that in flight already: watch tells this end
		}
	}
	// Until we reap it the leader (a zombie at worst) pins its pid and
	// the group id: one kill reaches the group, the leader with it. The
	// leader gets the signal once: a second SIGTERM could reach a worker
	// that has already handled the first and is on its way out.
	if pg, err := unix.Getpgid(p.pid); err == nil && pg == p.pid {
		unix.Kill(-p.pid, sig)
		return
	}
	// The leader left the group it was started in: it through its pidfd
	// (immune to pid reuse), and that group by its id.
	if p.os.pidfd != nil {
		if rc, err := p.os.pidfd.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.PidfdSendSignal(int(fd), sig, nil, 0) })
		}
	} else {
		unix.Kill(p.pid, sig)
	}
	unix.Kill(-p.pid, sig)
}

// watch waits for the death, reaps, classifies and reports it.
func (p *Process) watch() {
	if p.os.pidfd != nil {
		rc, err := p.os.pidfd.SyscallConn()
		if err == nil {
			err = rc.Read(func(fd uintptr) bool {
				var info unix.Siginfo
				err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
				return err != nil || siginfoPid(&info) != 0
			})
		}
		_ = err // on any error, fall through to the blocking reap below
		if !p.os.ending.CompareAndSwap(false, true) {
			return // a stop's waiter tells the end (awaitStop)
		}
	} else {
		p.awaitSentinel()
	}
	p.ended(nil)
}

// awaitStop waits for the end of a worker asked to stop (SIGTERM), beside
// watch, on a thread raised as the hang monitor's and locked to it, and
// tells the end from there if it sees it first; it gives the thread its
// scheduling back once Exited is out. It returns once the worker is dead.
//
// A stop waits for the worker's end, and a tree stops its children one
// after the other. watch sees the end through the runtime's poller, so only
// once an ordinary thread of this process gets a CPU to poll and then to
// run it: with 512 workers beating every 10 ms on two CPUs, where every
// thread that wakes waits tens of milliseconds for a CPU, a worker's end was
// told 10 ms to 2.9 s (median 0.5 s) after its last thread exited, its
// threads having exited 10 to 90 ms after the SIGTERM.
func (p *Process) awaitStop() {
	defer func() { <-stopWaiters }()
	rc, err := p.os.pidfd.SyscallConn()
	if err != nil {
		return
	}
	runtime.LockOSThread()
	r := linux.RaiseOwn()
	restore := func() {
		r.Restore()
		runtime.UnlockOSThread()
	}
	// Control fails, and the wait is skipped, once watch has closed the
	// pidfd; watch's Close waits for a wait under way, which returns at the
	// death watch saw.
	rc.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err != unix.EINTR {
				return
			}
		}
	})
	if !p.os.ending.CompareAndSwap(false, true) {
		restore()
		return
	}
	p.ended(restore)
}

// stopWaiters bounds the stops awaited on raised threads (awaitStop) at
// once: each holds a thread of its own until its worker ends, which may
// take the worker's whole grace. A tree stops its children one after the
// other; a pool's stop signals all of them together, and past this many
// their ends are told by watch alone, as before, rather than by a thread
// each.
var stopWaiters = make(chan struct{}, 8)

// ended reaps, classifies and reports the end of the worker, dead now;
// restore, when not nil, is called once Exited is out.
func (p *Process) ended(restore func()) {
	seen := mono.Now()
	// The leader is a zombie: its pid still names the group, so the group
	// can be killed safely, grandchildren included.
	unix.Kill(-p.pid, unix.SIGKILL)
	p.endLeaf()   // and whatever of its descendants left the group
	p.endLimits() // its v1 groups, and whether the OOM killer struck
	// Its status, read without reaping it: the reap (the kernel flushes
	// the process's /proc entries, tens of milliseconds on a loaded
	// machine) is left to the reaper, off the path of Exited and so of a
	// stop or a restart. Until then the zombie keeps its pid; from now on
	// nothing signals it.
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	code, sig, core := exitStatusOf(&info)
	p.mu.Lock()
	p.reaped = true
	if p.killTimer != nil {
		p.killTimer.Stop()
	}
	if p.os.stopBoostEnd != nil {
		p.os.stopBoostEnd.Stop() // its threads are gone
	}
	p.mu.Unlock()
	monitor.remove(p) // its probe's /proc files closed before the reap, and the watchdog
	p.notifyStop()    // before the watchdog closes, and before dead: READY=1 then an exit is a start
	if p.os.pidfd != nil {
		p.os.pidfd.Close()
	}
	if p.os.sentinel != nil {
		p.os.sentinel.Close()
	}
	p.releaseSegment()
	kernelWatch.flush(p)  // its Dying, from the watch, before its Exited
	kernelWatch.remove(p) // before the reap: the pid names this process till then
	reaper.reap(p.pid, p.os.gone)
	// The worker's ready word may add readiness (it said Ready and died
	// before the bridge looked) but never take back what the bridge saw.
	readySeen := p.readyMono.Load() != 0 || atomic.LoadUint32(p.lane.ReadyWord()) == shm.ReadyYes
	p.atEnd.beats, p.atEnd.lastBeat = p.lane.Heartbeat()
	p.atEnd.mark = p.lane.Mark()
	p.exit = p.classify(code, sig, core, seen, readySeen)
	p.err = p.exit.err(p.name, p.pid)
	if xe, ok := p.err.(*ExitError); ok && p.exit.Kind == ExitKilledViolation {
		if v := p.violation.Load(); v != nil {
			xe.cause = v
		}
	}
	close(p.dead)
	<-p.started      // Ready, when there is one, comes first
	p.releaseDying() // and Dying, when there is one
	p.closeDying()
	p.emit(Exited{Pid: p.pid, Exit: p.exit, Err: p.err, Dropped: p.dropped.Load(), Refused: p.note.refusedCount()})
	close(p.events)
	close(p.exited)
	if restore != nil {
		restore()
	}

	p.drainOutputs()
	close(p.done)
}

// awaitSentinel returns once the process has exited (not reaped), in
// sentinel mode. The sentinel's end of file comes when every holder of
// its write end has closed it: the worker, by dying (the SDK marks it
// close-on-exec), but also any process it handed the end to, such as a
// child of its own in a session of its own, which may never close it. So
// the read has a deadline: every sentinelPoll, and soon after any signal
// the bridge sends (nudgeSentinel), the bridge asks the kernel whether the
// worker has exited. Bytes written into the sentinel are read and
// dropped; past sentinelDataMax the bridge stops reading it and polls.
func (p *Process) awaitSentinel() {
	r := p.os.sentinel
	buf := make([]byte, 512)
	read, poll := 0, sentinelPoll
	for {
		r.SetReadDeadline(time.Now().Add(poll))
		var err error
		if read <= sentinelDataMax {
			var n int
			n, err = r.Read(buf)
			read += n
		} else {
			select { // a flood: poll only
			case <-p.os.nudge:
			case <-time.After(poll):
			}
			err = os.ErrDeadlineExceeded
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			var info unix.Siginfo
			if unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil) == nil && siginfoPid(&info) != 0 {
				return
			}
			poll = sentinelPoll
			select {
			case <-p.os.nudge:
				poll = sentinelNudge
			default:
			}
			continue
		}
		break // end of file
	}
	// Wait without reaping until it is a zombie, in case it closed the end
	// some other way.
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
}

// nudgeSentinel makes the sentinel's watcher ask the kernel soon whether
// the worker has exited: the bridge just signalled it.
func (p *Process) nudgeSentinel() {
	if p.os.sentinel == nil {
		return
	}
	select {
	case p.os.nudge <- struct{}{}:
	default:
	}
	p.os.sentinel.SetReadDeadline(time.Now().Add(sentinelNudge))
}

// The sentinel's polls (awaitSentinel): how often the watcher asks the
// kernel whether the worker has exited while the sentinel stays open, how
// soon after a signal of the bridge's, and how many bytes written into it
// are read before it is left alone.
const (
	sentinelPoll    = time.Second
	sentinelNudge   = 10 * time.Millisecond
	sentinelDataMax = 64 << 10
)

// siginfoPid reads si_pid from a SIGCHLD siginfo (offset 16 on Linux).
func siginfoPid(info *unix.Siginfo) int32 {
	b := (*[128]byte)(unsafe.Pointer(info))
	return int32(uint32(b[16]) | uint32(b[17])<<8 | uint32(b[18])<<16 | uint32(b[19])<<24)
}

// closeDog closes the watchdog timerfd (spawn failed: nobody watches it).
func (p *Process) closeDog() {
	if p.os.dog >= 0 {
		unix.Close(p.os.dog)
		p.os.dog = -1
	}
}

// releaseSegment closes the segment's descriptor when the process owns it.
func (p *Process) releaseSegment() {
	if p.ownSegment {
		p.seg.CloseFd()
	}
}

// wakeLane tells the process parked in l that it is promoted.
func wakeLane(l *shm.Lane) {
	atomic.StoreUint32(l.ParkWord(), shm.ParkPromoted)
	linux.FutexWake(l.ParkWord(), 1<<30)
}
