//go:build linux

package deathwatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// MaxWatched is how many processes one Watch watches at once.
const MaxWatched = 16384

// ringSize is the ring's size: 8,192 notices of 40 bytes with their
// headers, far more than the processes watched can send before the reader
// drains it (an exit notice takes the process out of the map).
const ringSize = 256 << 10

// Watch is the loaded programs and their maps, not yet attached: a
// Session attaches them. Its methods are safe for concurrent use.
type Watch struct {
	watched, ring, forking *ebpf.Map
	progs                  [4]*ebpf.Program // signal, exit, oom, fork
}

// License is the license the programs declare to the kernel: the
// instructions this package assembles, offered under GPL-2.0 or
// BSD-2-Clause.
const License = "Dual BSD/GPL"

// tracepoints are where the programs attach, in Watch.progs's order.
var tracepoints = [4]string{"signal_generate", "sched_process_exit", "mark_victim", "sched_process_fork"}

// maxForking is how many threads may fork a process to watch at once
// (Expect).
const maxForking = 1024

// Load loads the programs and their maps. It fails, with an error wrapping
// ErrNotSupported, where the host cannot run them.
func Load() (*Watch, error) {
	o, err := kernelOffsets()
	if err != nil {
		return nil, err
	}
	w := &Watch{}
	w.watched, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "us_watched", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: MaxWatched,
	})
	if err != nil {
		return nil, notSupported("create the map of watched processes", err)
	}
	w.ring, err = ebpf.NewMap(&ebpf.MapSpec{Name: "us_deaths", Type: ebpf.RingBuf, MaxEntries: ringSize})
	if err != nil {
		w.Close()
		return nil, notSupported("create the ring buffer", err)
	}
	w.forking, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "us_forking", Type: ebpf.Hash, KeySize: 4, ValueSize: 8, MaxEntries: maxForking,
	})
	if err != nil {
		w.Close()
		return nil, notSupported("create the map of forking threads", err)
	}
	for i, insns := range [4]asm.Instructions{
		signalProgram(w.watched, w.ring, o),
		exitProgram(w.watched, w.ring, o),
		oomProgram(w.watched, w.ring, o),
		forkProgram(w.watched, w.forking, o),
	} {
		w.progs[i], err = ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         "us_" + [4]string{"signal", "exit", "oom", "fork"}[i],
			Type:         ebpf.RawTracepoint,
			Instructions: insns,
			// The programs read task_struct with bpf_probe_read_kernel,
			// the one helper of theirs the kernel lends only to programs
			// under a GPL-compatible license (map lookups and deletes,
			// ring buffers, ktime and the current tgid need none). The
			// instructions prog_linux.go assembles are offered under
			// GPL-2.0 or BSD-2-Clause, the kernel's "Dual BSD/GPL";
			// the Go code stays Apache-2.0 (docs/architecture.md).
			License: License,
		})
		if err != nil {
			w.Close()
			return nil, notSupported("load the program on "+tracepoints[i], err)
		}
	}
	return w, nil
}

// notSupported wraps err, which a BPF call returned, as ErrNotSupported.
func notSupported(what string, err error) error {
	if errors.Is(err, unix.EPERM) {
		err = unix.EPERM // without cilium/ebpf's hint about RLIMIT_MEMLOCK, which this kernel does not charge
	}
	return &unsupportedError{what, err}
}

type unsupportedError struct {
	what string
	err  error
}

func (e *unsupportedError) Error() string   { return "deathwatch: " + e.what + ": " + e.err.Error() }
func (e *unsupportedError) Unwrap() []error { return []error{ErrNotSupported, e.err} }

// Close unloads the programs and frees the maps. Sessions must be closed
// first.
func (w *Watch) Close() {
	for _, p := range w.progs {
		if p != nil {
			p.Close()
		}
	}
	if w.ring != nil {
		w.ring.Close()
	}
	if w.watched != nil {
		w.watched.Close()
	}
	if w.forking != nil {
		w.forking.Close()
	}
}

// Add watches tgid; its notices carry cookie. The caller must hold the
// process unreaped until Remove (its pid cannot name another process till
// then).
func (w *Watch) Add(tgid int, cookie uint64) error {
	return putID(w.watched, tgid, cookie, "add tgid", "not a pid")
}

// putID sets id, a process or thread id, to cookie in m; its errors say
// what (the call and the id's kind) and why not, for an id the kernel
// never gives (above PID_MAX_LIMIT).
func putID(m *ebpf.Map, id int, cookie uint64, what, notID string) error {
	if id <= 0 || id > 1<<22 {
		return fmt.Errorf("deathwatch: %s %d: %s", what, id, notID)
	}
	if err := m.Put(uint32(id), cookie); err != nil {
		return fmt.Errorf("deathwatch: %s %d: %w", what, id, err)
	}
	return nil
}

// Expect has every process the thread tid forks, while a Session is
// attached and until Unexpect, watched from its fork, its notices carrying
// cookie: the fork puts the child's tgid in the map before the child first
// runs, where Add, after the fork returns, would leave the child unwatched
// for whatever it does first (a worker that kills itself at once went
// without its notice). A child the fork could not put in the map (it is
// full) goes unwatched, as Add would have failed for it. The caller holds
// the child unreaped till Remove.
func (w *Watch) Expect(tid int, cookie uint64) error {
	return putID(w.forking, tid, cookie, "expect from tid", "not a thread id")
}

// Unexpect ends Expect's watch of tid's forks.
func (w *Watch) Unexpect(tid int) {
	if tid > 0 {
		w.forking.Delete(uint32(tid))
	}
}

// Remove stops watching tgid (it may have removed itself: an exit or OOM
// notice does).
func (w *Watch) Remove(tgid int) {
	if tgid > 0 {
		w.watched.Delete(uint32(tgid))
	}
}

// Session is the programs attached and the ring's reader. Notices are
// read with Read, on one goroutine; or, from several threads at once,
// each waiting with a Waiter of its own and reading with Drain. Close and
// SetSlice may be called from any.
type Session struct {
	links  []link.Link
	rd     *ringbuf.Reader
	ringFd int
	slice  atomic.Int64  // each wait's bound in ns (SetSlice), 0 for none
	slices atomic.Uint64 // waits that ended at their bound
	closed atomic.Bool
	once   sync.Once

	mu      sync.Mutex // the ring's reading: rd, rec and batch
	rec     ringbuf.Record
	batch   []Notice
	wmu     sync.Mutex // waiters
	waiters map[*Waiter]struct{}
	own     *Waiter // Read's, made at its first wait
}

// Attach attaches the programs and opens the ring's reader.
func (w *Watch) Attach() (*Session, error) {
	s := &Session{ringFd: w.ring.FD(), waiters: map[*Waiter]struct{}{}}
	for i, p := range w.progs {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tracepoints[i], Program: p})
		if err != nil {
			s.Close()
			return nil, notSupported("attach to "+tracepoints[i], err)
		}
		s.links = append(s.links, l)
	}
	rd, err := ringbuf.NewReader(w.ring)
	if err != nil {
		s.Close()
		return nil, notSupported("read the ring buffer", err)
	}
	s.rd = rd
	return s, nil
}

// Read waits for the next notice. It returns os.ErrClosed once the session
// is closed.
//
// While a slice is set (SetSlice) it waits in slices of that length, each
// one system call, rather than in one long call. A reader woken after its
// whole process had slept for a good part of a second was measured to
// stall, after the kernel's wait had returned and before the Go runtime
// let it run, for hundreds of microseconds while a large process tore
// itself down (docs/performance.md, Processes); one whose process some
// thread of it had woken within the last 100 ms did not. The cost is that
// wake-up, every slice.
func (s *Session) Read(n *Notice) error {
	for {
		ok, err := s.next(n)
		if err == nil && !ok && s.own == nil {
			s.own, err = s.NewWaiter(true)
		}
		if err == nil && !ok {
			err = s.own.Wait()
		}
		if ok || err != nil {
			if err != nil && s.own != nil {
				s.own.Close()
				s.own = nil
			}
			return err
		}
	}
}

// Drain reads every notice the ring holds and gives them to f, in order,
// while no other Drain or Read reads (f must not keep the slice); it
// returns os.ErrClosed once the session is closed.
func (s *Session) Drain(f func([]Notice)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch = s.batch[:0]
	var n Notice
	for {
		ok, err := s.nextLocked(&n)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		s.batch = append(s.batch, n)
	}
	if len(s.batch) > 0 {
		f(s.batch)
	}
	return nil
}

// next reads a notice if the ring holds one, without waiting.
func (s *Session) next(n *Notice) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextLocked(n)
}

func (s *Session) nextLocked(n *Notice) (bool, error) {
	if s.closed.Load() {
		return false, os.ErrClosed
	}
	s.rd.SetDeadline(time.Unix(1, 0)) // passed: no wait, only what is there
	for {
		err := s.rd.ReadInto(&s.rec)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, ringbuf.ErrFlushed):
			return false, nil
		case errors.Is(err, ringbuf.ErrClosed), errors.Is(err, os.ErrClosed):
			return false, os.ErrClosed
		case err != nil:
			return false, err
		}
		if n.decode(s.rec.RawSample) {
			return true, nil
		}
	}
}

// Waiter waits, on its thread, for the ring to hold notices. A session
// may have several, each on a thread of its own: on a kernel that does
// not preempt itself, a woken real-time thread is queued on the CPU it
// last ran on, behind whatever runs there in the kernel (a process the
// OOM killer chose spends milliseconds there after its notice), while
// another CPU may be idle; a second waiter, kept to another CPU, takes
// the wake-up there.
type Waiter struct {
	s      *Session
	kick   int  // an eventfd: Close and SetSlice end the wait
	sliced bool // waits in slices while SetSlice sets one
}

// NewWaiter returns a waiter of s's ring; one made sliced waits in the
// slices SetSlice sets, the others without a bound. Close it when done.
func (s *Session) NewWaiter(sliced bool) (*Waiter, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("deathwatch: a waiter's eventfd: %w", err)
	}
	w := &Waiter{s: s, kick: fd, sliced: sliced}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.closed.Load() {
		unix.Close(fd)
		return nil, os.ErrClosed
	}
	s.waiters[w] = struct{}{}
	return w, nil
}

// Wait returns when the ring may hold notices (Drain or Read reads them),
// or os.ErrClosed once the session is closed.
func (w *Waiter) Wait() error {
	fds := []unix.PollFd{{Fd: int32(w.s.ringFd), Events: unix.POLLIN}, {Fd: int32(w.kick), Events: unix.POLLIN}}
	for {
		if w.s.closed.Load() {
			return os.ErrClosed
		}
		timeout := -1
		if d := w.s.slice.Load(); w.sliced && d > 0 {
			timeout = int((d + int64(time.Millisecond) - 1) / int64(time.Millisecond))
		}
		n, err := unix.Poll(fds, timeout)
		switch {
		case err == unix.EINTR:
			continue
		case w.s.closed.Load():
			return os.ErrClosed
		case err != nil:
			return fmt.Errorf("deathwatch: wait for the ring: %w", err)
		case n == 0:
			w.s.slices.Add(1)
			continue
		}
		if fds[1].Revents != 0 {
			var b [8]byte
			unix.Read(w.kick, b[:])
			continue
		}
		if fds[0].Revents&(unix.POLLERR|unix.POLLNVAL) != 0 {
			return fmt.Errorf("deathwatch: wait for the ring: poll says %#x", fds[0].Revents)
		}
		return nil
	}
}

// Close frees the waiter, once its Wait has returned.
func (w *Waiter) Close() {
	w.s.wmu.Lock()
	delete(w.s.waiters, w)
	w.s.wmu.Unlock()
	unix.Close(w.kick)
}

// wake ends every waiter's wait in progress. s.wmu is held.
func (s *Session) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	for w := range s.waiters {
		unix.Write(w.kick, one[:])
	}
}

// SetSlice bounds each wait of Read and of the sliced waiters by d from
// now on (0: no bound). A wait in progress without a bound is ended, so
// that the bound holds at once.
func (s *Session) SetSlice(d time.Duration) {
	if old := s.slice.Swap(int64(max(d, 0))); old == 0 && d > 0 {
		s.wmu.Lock()
		s.wake()
		s.wmu.Unlock()
	}
}

// Slices returns how many waits ended at their bound.
func (s *Session) Slices() uint64 { return s.slices.Load() }

// Close detaches the programs and ends every wait. Safe to call twice.
func (s *Session) Close() {
	s.once.Do(func() {
		s.wmu.Lock()
		s.closed.Store(true)
		s.wake()
		s.wmu.Unlock()
		s.mu.Lock()
		if s.rd != nil {
			s.rd.Close()
		}
		s.mu.Unlock()
		for _, l := range s.links {
			l.Close()
		}
	})
}

// Available reports whether this host runs the watch: nil, or why not (an
// error wrapping ErrNotSupported). It loads and attaches once, and
// remembers the answer.
func Available() error {
	availableOnce.Do(func() {
		w, err := Load()
		if err != nil {
			availableErr = err
			return
		}
		defer w.Close()
		s, err := w.Attach()
		if err != nil {
			availableErr = err
			return
		}
		s.Close()
	})
	return availableErr
}

var (
	availableOnce sync.Once
	availableErr  error
)

// Stats returns the time the programs have run, and how many times they
// ran, since they were loaded, while the kernel kept the count (from
// EnableStats, or the kernel.bpf_stats_enabled sysctl).
func (w *Watch) Stats() (run time.Duration, count uint64, err error) {
	for _, p := range w.progs {
		s, err := p.Stats()
		if err != nil {
			return 0, 0, err
		}
		run += s.Runtime
		count += s.RunCount
	}
	return run, count, nil
}

// EnableStats makes the kernel count the run time of BPF programs until
// the returned function is called.
func EnableStats() (stop func(), err error) {
	c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return nil, err
	}
	return func() { c.Close() }, nil
}
