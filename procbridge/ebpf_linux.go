//go:build linux

package procbridge

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

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
// they are attached, and one goroutine reads their ring, while at least
// one process is watched. The reader waits in slices while warm is held
// (warm_linux.go); with deathwatch.EnvOff set to "prompt" the watch holds
// warm itself while it watches anything.
//
// A notice is trusted for the process its tgid names because the bridge
// puts the tgid in the watch's map after the fork and takes it out before
// the reap: till the reap the pid cannot name another process. A notice
// still in the ring from an earlier process of the same pid carries that
// process's cookie, and is dropped.
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
	done     chan struct{} // closed when the session's reader returns
	unprompt func()        // releases the session's hold of warm (prompt)

	live atomic.Pointer[deathwatch.Session] // sess, for warm, which must not take mu
}

// setSlice bounds the reader's waits by d (0: none), when it runs.
func (k *kernelWatcher) setSlice(d time.Duration) {
	if s := k.live.Load(); s != nil {
		s.SetSlice(d)
	}
}

// kernelWatchErr reports why the eBPF watch is not used (nil: it is), once
// it has been tried.
func kernelWatchErr() error {
	kernelWatch.load()
	return kernelWatch.err
}

func (k *kernelWatcher) load() {
	k.loadOnce.Do(func() { k.w, k.err = deathwatch.Load() })
}

// add watches p, whose pid is fresh from the fork.
func (k *kernelWatcher) add(p *Process) {
	if noKernelWatch.Load() || deathwatch.Off() {
		return
	}
	k.load()
	if k.err != nil {
		return
	}
	cookie := k.cookies.Add(1)
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sess == nil {
		s, err := k.w.Attach()
		if err != nil {
			return // the pidfd and the robust futex tell
		}
		k.sess, k.done = s, make(chan struct{})
		k.procs = map[int]*Process{}
		go k.run(s, k.done)
		warm.mu.Lock() // a hold or a release now waits: the slice is warm's
		k.live.Store(s)
		s.SetSlice(warm.slice())
		warm.mu.Unlock()
		k.unprompt = promptHold()
	}
	if err := k.w.Add(p.pid, cookie); err != nil {
		return // the map is full: the pidfd and the robust futex tell
	}
	p.kernelCookie = cookie
	k.procs[p.pid] = p
}

// remove stops watching p, before its reap; the last one detaches the
// programs and ends the reader.
func (k *kernelWatcher) remove(p *Process) {
	if p.kernelCookie == 0 {
		return
	}
	k.w.Remove(p.pid)
	k.mu.Lock()
	if k.procs[p.pid] == p {
		delete(k.procs, p.pid)
	}
	var s *deathwatch.Session
	var done chan struct{}
	var unprompt func()
	if len(k.procs) == 0 && k.sess != nil {
		s, done, unprompt = k.sess, k.done, k.unprompt
		k.sess, k.done, k.procs, k.unprompt = nil, nil, nil, nil
		k.live.Store(nil)
	}
	k.mu.Unlock()
	if unprompt != nil {
		unprompt()
	}
	if s != nil {
		s.Close()
		<-done
	}
}

// run reads the session's notices until it is closed, on a raised thread:
// it must run as soon as a notice comes, while a dying worker's threads
// and a spare taking over want the CPUs.
func (k *kernelWatcher) run(s *deathwatch.Session, done chan struct{}) {
	defer close(done)
	runtime.LockOSThread() // never unlocked: the raised thread ends with the reader
	promptThread()
	var n deathwatch.Notice
	for s.Read(&n) == nil {
		k.deliver(n, mono.Now())
	}
}

// deliver turns a notice, read at now, into the Dying of its process.
func (k *kernelWatcher) deliver(n deathwatch.Notice, now int64) {
	k.mu.Lock()
	p := k.procs[n.Tgid]
	k.mu.Unlock()
	if p == nil || p.kernelCookie != n.Cookie || n.Time < p.spawnMono {
		return // not ours, or of an earlier process of the same pid
	}
	if p.reason.Load() != reasonNone {
		return // being ended by us: Exited tells
	}
	if n.Kind == deathwatch.Exit && n.Signal == 0 && n.Status == 0 {
		return // a clean end, not a failure: Exited tells
	}
	d := Dying{Pid: p.pid, Time: mono.Time(now), Source: dyingEBPF, Kernel: mono.Time(n.Time), Signal: n.Signal, Sender: n.Sender}
	switch n.Kind {
	case deathwatch.Exit:
		d.Code, d.Sender = n.Status, 0
	case deathwatch.OOM:
		d.OOM = true
	}
	if n.Kind != deathwatch.Signal || n.Signal == sigKill {
		p.hasten() // its end is certain: not a core dump's signal, which a handler may yet catch
	}
	p.emitDying(d)
}
