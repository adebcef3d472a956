//go:build linux

package procbridge

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/deathwatch"
	"github.com/understudy/understudy/internal/mono"
)

// The eBPF death watch (internal/deathwatch): where the supervisor may
// load BPF programs, every process the bridge starts is watched from its
// fork to its reaping, SDK or not, and the kernel's notice that it is
// ending (a fatal signal, its exit beginning, the OOM killer's choice)
// becomes its Dying, before the kernel tears its memory down. It is an
// accelerator: where the programs do not load, or deathwatch.EnvOff says
// so, the robust futex (for workers with the SDK) and the pidfd tell, as
// they do beside it.
//
// One set of programs, loaded at the first start, serves every process;
// they are attached, and their ring read (read), while at least one
// process is watched and for kernelLinger after the last one goes:
// attaching again right after a detach waits out the kernel's grace
// period (7-24 ms measured here, on the start's path), during which a
// restarted lone worker would go unwatched. The first reader waits in
// slices while warm is held (warm_linux.go); with deathwatch.EnvOff set
// to "prompt" the watch holds warm itself while it watches anything.
//
// A process is watched from its fork (expect): the forker's thread leaves
// the child's cookie under its own id, and the fork puts the child's tgid
// in the watch's map before the child first runs. A notice is trusted for
// the process its tgid names because the tgid enters the map at the fork
// and leaves it before the reap: till the reap the pid cannot name another
// process. A notice still in the ring from an earlier process of the same
// pid carries that process's cookie, and is dropped. Before a process's
// Exited, the ring is read (flush): its Dying, when it has one, comes
// first.
var kernelWatch kernelWatcher

// noKernelWatch, set by tests and benchmarks, starts the next processes
// without the eBPF watch, as on a host that cannot load it.
var noKernelWatch atomic.Bool

type kernelWatcher struct {
	loadOnce sync.Once
	w        *deathwatch.Watch
	err      error // why the programs did not load
	cookies  atomic.Uint64

	mu       sync.Mutex
	procs    map[int]*Process // by pid
	sess     *deathwatch.Session
	done     chan struct{}       // closed when the session's readers have returned
	unprompt func()              // releases the hold of warm (prompt) while anything is watched
	linger   *time.Timer         // ends sess, which watches nothing, unless a process comes first
	lingers  uint64              // lingers started, the last one's number
	starting int                 // processes between expect and add (or abandon)
	early    []deathwatch.Notice // read while starting, for no process yet: add claims its own

	live    atomic.Pointer[deathwatch.Session] // sess, for warm, which must not take mu
	readers [kernelReaders]atomic.Int32        // the readers' thread ids, while they run
}

// setSlice bounds the first reader's waits by d (0: none), when it runs.
func (k *kernelWatcher) setSlice(d time.Duration) {
	if s := k.live.Load(); s != nil {
		s.SetSlice(d)
	}
}

// kernelReaders is how many readers the ring has at most, each kept to a
// CPU of its own (read).
const kernelReaders = 2

// kernelLinger is how long the programs stay attached after the last
// watched process goes.
const kernelLinger = 2 * time.Second

// maxEarly bounds the notices kept for processes not yet added.
const maxEarly = 1024

func init() { deathwatch.SetLingerEnd(kernelWatch.endLinger) }

// kernelWatchErr reports why the eBPF watch is not used (nil: it is), once
// it has been tried.
func kernelWatchErr() error {
	kernelWatch.load()
	return kernelWatch.err
}

func (k *kernelWatcher) load() {
	k.loadOnce.Do(func() { k.w, k.err = deathwatch.Load() })
}

// expect readies the watch for p, which the calling thread, locked to it,
// forks next: the programs are attached, and the fork puts the child in
// the watch's map before the child first runs (deathwatch's Expect); it
// returns the thread's id for forked (0: p goes unwatched). Then add or,
// when no child is left, abandon.
func (k *kernelWatcher) expect(p *Process) (tid int) {
	if noKernelWatch.Load() || deathwatch.Off() {
		return 0
	}
	k.load()
	if k.err != nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sess == nil {
		s, err := k.w.Attach()
		if err != nil {
			return 0 // the pidfd and the robust futex tell
		}
		done, err := k.read(s)
		if err != nil {
			s.Close()
			return 0 // the pidfd and the robust futex tell
		}
		k.sess, k.done = s, done
		k.procs = map[int]*Process{}
		warm.mu.Lock() // a hold or a release now waits: the slice is warm's
		k.live.Store(s)
		s.SetSlice(warm.slice())
		warm.mu.Unlock()
	}
	if k.linger != nil {
		k.linger.Stop()
		k.linger = nil
	}
	k.starting++
	p.kernelCookie = k.cookies.Add(1)
	tid = unix.Gettid()
	if k.w.Expect(tid, p.kernelCookie) != nil {
		return 0 // add puts the child in the map after its fork
	}
	return tid
}

// forked ends expect's watch of tid's forks, once the fork returned.
func (k *kernelWatcher) forked(tid int) {
	if tid != 0 {
		k.w.Unexpect(tid)
	}
}

// add watches p, whose pid is fresh from the fork, and delivers the
// notices read for it since. Where the fork did not put p in the watch's
// map (forkWatched false: expect could not ask it to), add does.
func (k *kernelWatcher) add(p *Process, forkWatched bool) {
	if p.kernelCookie == 0 {
		return
	}
	k.mu.Lock()
	var early []deathwatch.Notice
	for i := 0; i < len(k.early); {
		if n := k.early[i]; n.Tgid == p.pid && n.Cookie == p.kernelCookie {
			early = append(early, n)
			k.early = append(k.early[:i], k.early[i+1:]...)
			continue
		}
		i++
	}
	k.started()
	if !forkWatched && k.w.Add(p.pid, p.kernelCookie) != nil {
		// The map is full: the pidfd and the robust futex tell.
		p.kernelCookie = 0
		k.idle()
		k.mu.Unlock()
		return
	}
	if len(k.procs) == 0 {
		k.unprompt = promptHold()
	}
	k.procs[p.pid] = p
	k.mu.Unlock()
	if len(early) > 0 {
		k.deliverAll(early)
	}
}

// abandon undoes expect for a p whose fork failed (pid 0), or whose child
// is about to be killed and reaped.
func (k *kernelWatcher) abandon(p *Process, pid int) {
	if p.kernelCookie == 0 {
		return
	}
	k.w.Remove(pid)
	k.mu.Lock()
	k.started()
	p.kernelCookie = 0
	k.idle()
	k.mu.Unlock()
}

// started counts a start expect began as over. k.mu is held.
func (k *kernelWatcher) started() {
	k.starting--
	if k.starting == 0 {
		k.early = k.early[:0] // a process being started would have claimed its own
	}
}

// remove stops watching p, before its reap; after the last one, the
// programs stay attached for kernelLinger.
func (k *kernelWatcher) remove(p *Process) {
	if p.kernelCookie == 0 {
		return
	}
	k.w.Remove(p.pid)
	k.mu.Lock()
	if k.procs[p.pid] == p {
		delete(k.procs, p.pid)
	}
	var unprompt func()
	if len(k.procs) == 0 {
		unprompt, k.unprompt = k.unprompt, nil
		k.idle()
	}
	k.mu.Unlock()
	if unprompt != nil {
		unprompt()
	}
}

// idle starts the linger of a session that watches nothing and starts
// nothing. k.mu is held.
func (k *kernelWatcher) idle() {
	if k.sess != nil && len(k.procs) == 0 && k.starting == 0 && k.linger == nil {
		k.lingers++
		n := k.lingers
		k.linger = time.AfterFunc(kernelLinger, func() { k.end(n) })
	}
}

// end detaches the programs and ends the readers if they still watch
// nothing and their linger is the n-th (0: any).
func (k *kernelWatcher) end(n uint64) {
	k.mu.Lock()
	if k.sess == nil || len(k.procs) > 0 || k.starting > 0 || k.linger == nil || n != 0 && n != k.lingers {
		k.mu.Unlock()
		return
	}
	k.linger.Stop()
	s, done := k.sess, k.done
	k.sess, k.done, k.procs, k.linger = nil, nil, nil, nil
	k.live.Store(nil)
	k.mu.Unlock()
	s.Close()
	<-done
}

// endLinger ends, now, a session that is waiting out its linger.
func (k *kernelWatcher) endLinger() { k.end(0) }

// read starts the session's readers, which read its notices until it is
// closed, each on a raised thread: they must run as soon as a notice
// comes, while a dying worker's threads and a spare taking over want the
// CPUs. Where the supervisor may run on two CPUs or more there are two,
// each kept to a CPU of its own: the kernel queues a woken raised thread
// on the CPU it last ran on, and there, on a kernel that does not preempt
// itself, it waits for whatever runs in the kernel to leave it (a process
// the OOM killer chose: 2-3 ms after its notice, measured here) while the
// other CPU may be idle. The first waits in warm's slices, when set. The
// returned channel is closed once they are all gone.
func (k *kernelWatcher) read(s *deathwatch.Session) (chan struct{}, error) {
	var cpus []int
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil && set.Count() > 1 {
		for c := 0; len(cpus) < kernelReaders && c < len(set)*64; c++ {
			if set.IsSet(c) {
				cpus = append(cpus, c)
			}
		}
	} else {
		cpus = []int{-1} // one reader, where the kernel puts it
	}
	var waiters []*deathwatch.Waiter
	for i := range cpus {
		w, err := s.NewWaiter(i == 0)
		if err != nil {
			if i == 0 {
				return nil, err
			}
			cpus = cpus[:i]
			break
		}
		waiters = append(waiters, w)
	}
	done := make(chan struct{})
	var left atomic.Int32
	left.Store(int32(len(waiters)))
	for i, w := range waiters {
		go func() {
			defer func() {
				if left.Add(-1) == 0 {
					close(done)
				}
			}()
			defer w.Close()
			runtime.LockOSThread() // never unlocked: the raised thread ends with the reader
			if cpus[i] >= 0 {
				var one unix.CPUSet
				one.Set(cpus[i])
				unix.SchedSetaffinity(0, &one)
			}
			promptThread()
			k.readers[i].Store(int32(unix.Gettid()))
			defer k.readers[i].Store(0)
			k.run(s, w)
		}()
	}
	return done, nil
}

// run reads s's notices whenever w says the ring holds some, until s is
// closed.
func (k *kernelWatcher) run(s *deathwatch.Session, w *deathwatch.Waiter) {
	for w.Wait() == nil {
		if s.Drain(k.deliverAll) != nil {
			return
		}
	}
}

// flush delivers the notices the ring holds, p's among them, before p's
// Exited: the kernel writes a notice before it tears the process down, so
// once the process is dead its notice is in the ring or already read (a
// reader delivers under the session's lock, which Drain waits for). A
// small process is torn down, and its pidfd tells, before a reader woken
// on another CPU may run.
func (k *kernelWatcher) flush(p *Process) {
	if p.kernelCookie == 0 {
		return
	}
	if s := k.live.Load(); s != nil {
		s.Drain(k.deliverAll)
	}
}

// deliverAll delivers notices read at once.
func (k *kernelWatcher) deliverAll(ns []deathwatch.Notice) {
	now := mono.Now()
	for _, n := range ns {
		k.deliver(n, now)
	}
}

// deliver turns a notice, read at now, into the Dying of its process.
func (k *kernelWatcher) deliver(n deathwatch.Notice, now int64) {
	k.mu.Lock()
	p := k.procs[n.Tgid]
	if p == nil && k.starting > 0 && len(k.early) < maxEarly {
		// Perhaps of a process forked and not yet added: the fork
		// watches it before its first instruction.
		k.early = append(k.early, n)
	}
	k.mu.Unlock()
	if p == nil || p.kernelCookie != n.Cookie || n.Time < p.spawnMono {
		return // not ours, or of an earlier process of the same pid
	}
	// Its end is certain, but for a core dump's signal, which a handler
	// may yet catch: its threads are raised for it, after its Dying.
	certain := n.Kind != deathwatch.Signal || n.Signal == sigKill
	if p.reason.Load() != reasonNone || n.Kind == deathwatch.Exit && n.Signal == 0 && n.Status == 0 {
		// Being ended by us, or a clean end, not a failure: Exited tells.
		if certain {
			p.hasten()
		}
		return
	}
	d := Dying{Pid: p.pid, Time: mono.Time(now), Source: dyingEBPF, Kernel: mono.Time(n.Time), Signal: n.Signal, Sender: n.Sender}
	switch n.Kind {
	case deathwatch.Exit:
		d.Code, d.Sender = n.Status, 0
	case deathwatch.OOM:
		d.OOM = true
	}
	p.emitDying(d)
	if certain {
		p.hasten()
	}
}
