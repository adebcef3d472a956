"""The worker's side of the protocol: attach, ready, beat, the death
notice, hot standby, state and the command rings."""

import ctypes
import errno
import functools
import gc
import mmap
import os
import select
import signal
import struct
import sys
import threading
import time

from . import _atomic as at
from . import _layout as L
from . import _sys


class AttachError(Exception):
    """This process cannot serve the segment it was handed. verdict is the
    attach verdict written into the segment (None when nothing was
    written); a worker that refuses its segment exits with status 78."""

    def __init__(self, message, verdict=None):
        super().__init__(message)
        self.verdict = verdict


class NotAWorker(AttachError):
    """The process was not started by an understudy supervisor."""


class Fenced(Exception):
    """This process is no longer the primary: a spare took over, and what it
    would write is refused. It should stop."""


class NoState(LookupError):
    """Nothing was committed yet, or the segment has no state region."""


class RingFull(Exception):
    """The reply does not fit in the ring now: retry, drop or fail."""


class NoRing(Exception):
    """The segment has no command rings (the spec's ring size is 0)."""


def _env_fd(env, key):
    v = env.get(key)
    if v is None or v == "":
        return None
    try:
        fd = int(v, 10)
    except ValueError:
        fd = -1
    if fd < 3 or fd > 1 << 20:
        raise AttachError("understudy: %s = %r is not a descriptor number" % (key, v))
    return fd


def _cloexec(fd):
    try:
        os.set_inheritable(fd, False)
    except OSError:
        pass


# The variables the supervisor hands a worker (docs/protocol.md).
_PROTOCOL_ENV = (L.ENV_SEGMENT_FD, L.ENV_LANE, L.ENV_LIFELINE_FD, L.ENV_SENTINEL_FD,
                 L.ENV_WATCHDOG_FD, L.ENV_EPOCH, L.ENV_WORKER)

# Test switches, read once at import: UNDERSTUDY_TEST_NO_ROBUST skips the
# robust thread (a worker the pidfd alone must catch), and
# UNDERSTUDY_TEST_UNRAISED leaves a parked spare's thread at its priority.
_NO_ROBUST = bool(os.environ.get("UNDERSTUDY_TEST_NO_ROBUST"))
_UNRAISED = bool(os.environ.get("UNDERSTUDY_TEST_UNRAISED"))

# On x86-64 an aligned load is a plain mov, which is what a sequentially
# consistent load compiles to there (the stores, xchg, carry the order):
# the loads of a spare's wake read the segment through a memoryview, with
# no foreign call. Elsewhere they go through the atomics module.
_PLAIN_LOADS = _sys.MACHINE == "x86_64"

# This package's own park word value: a cancelled wait (cancel_wait). The
# protocol leaves values other than waiting and promoted to the worker.
_PARK_RELEASED = 2

# How often a parked spare looks at its words. Every process of the segment
# can write and wake them (the park word, the control word, the primary's
# robust word for the lane): one that kept doing so would have the spare,
# raised above ordinary tasks while it parks, go round its loop as fast as
# it is woken. An honest segment wakes a spare a few times per parking (its
# promotion, a stale wake); past _PARK_LOOKS looks in a second, the spare
# looks once a _PARK_NAP seconds (docs/protocol.md).
_PARK_LOOKS = 64
_PARK_NAP = 0.001

# A parked spare sleeps at most this long (ns) before it looks again, so
# that no sleep lasts long enough to go cold. On a virtual machine whose
# memory is paravirtualised, a process that slept for more than a few
# hundred milliseconds pays, on its next return to user mode, a cost that
# grows with its memory (measured: 0.1 ms after 0.2 s, 0.5 ms after 1 s
# with an empty heap, 1.8 ms after 1 s with 256 MB): a spare parked for
# long paid it as its takeover. Each look costs 0.1 to 0.6 ms of CPU there
# (a few microseconds elsewhere), 10 a second: 0.2 to 0.6 % of a CPU.
_PARK_REFRESH_NS = 100_000_000

# Segments up to this size are mapped with MAP_POPULATE.
_POPULATE_MAX = 64 << 20

# The robust list's head (struct robust_list_head: next, futex_offset,
# list_op_pending), in this process's private memory for its whole life.
_robust_head = (ctypes.c_uint64 * 3)()
_robust_start = None  # the thread's start function, kept alive


class Worker:
    """This process's handle on its segment. Make one with attach()."""

    def __init__(self, fd, lane, env, exit_on_refusal):
        size = os.fstat(fd).st_size
        if size < L.HEADER_SIZE:
            raise AttachError("understudy: the segment at fd %d has %d bytes, less than a header" % (fd, size))
        # A segment of a usual size is mapped whole at once, so that a
        # spare taking over does not fault in the pages of the state it
        # adopts; the first clock read of a process faults in the vDSO's
        # clock pages: done here, not as a promoted spare's first step.
        flags = mmap.MAP_SHARED
        if size <= _POPULATE_MAX:
            flags |= getattr(mmap, "MAP_POPULATE", 0x8000)
        self._mm = mmap.mmap(fd, size, flags, mmap.PROT_READ | mmap.PROT_WRITE)
        time.monotonic_ns()
        self._base = ctypes.addressof(ctypes.c_char.from_buffer(self._mm))
        self._fd = fd
        # Word views of the segment: the mark is stored and, on x86-64, the
        # words a woken spare looks at are loaded through them.
        self._u32 = self._u64 = None
        if size % 8 == 0:
            self._u32 = memoryview(self._mm).cast("I")
            self._u64 = memoryview(self._mm).cast("Q")
        try:
            self._layout = L.parse_header(self._mm, size)
        except L.LayoutError as e:
            self._refuse(e.verdict, "the segment at fd %d is unusable (%s): %s" % (fd, L.VERDICTS[e.verdict], e), exit_on_refusal)
        try:
            lane_no = int(lane, 10)
        except (TypeError, ValueError):
            lane_no = -1
        if not 0 <= lane_no < self._layout.lanes:
            self._refuse(L.ATTACH_BAD_LANE, "%s = %r: not a lane of a %d-lane segment" % (L.ENV_LANE, lane, self._layout.lanes), exit_on_refusal)
        self.lane = lane_no
        self._lane = self._base + self._layout.lane(lane_no)
        self._control = self._base + L.H_CONTROL
        at.store32(self._lane + L.L_PID, os.getpid())
        # The role comes from the environment: the control word is any
        # process's to write. A spare holds an epoch no control word can
        # hold until it is promoted.
        self._epoch = (1 << 64) - 1
        e = env.get(L.ENV_EPOCH)
        if e is not None:
            if e.isdigit() and int(e) < L.MAX_EPOCH:
                self._epoch = int(e)
        else:
            epoch, active = self._control_word()
            if active == lane_no:
                self._epoch = epoch
        self._ready = False
        self._cancel = False
        self._armed = False
        self._dog = None
        self._prompt = None

    def _refuse(self, verdict, message, exit_on_refusal):
        at.store32(self._base + L.H_ATTACH_VERDICT, verdict)
        message = "understudy: " + message
        if exit_on_refusal:
            print(message, file=sys.stderr, flush=True)
            raise SystemExit(L.ATTACH_EXIT_STATUS)
        raise AttachError(message, verdict)

    # --- what attach does after the checks ---------------------------------

    def _start(self, env):
        self._arm_robust()
        fd = _env_fd(env, L.ENV_WATCHDOG_FD)
        lay = self._layout
        if fd is not None and lay.hb_interval > 0 and lay.hb_timeout > 0:
            try:
                os.fstat(fd)
            except OSError:
                fd = None
            if fd is not None:
                _cloexec(fd)
                ivl, timeout = lay.hb_interval, lay.hb_timeout
                lead = L.watchdog_lead(ivl, timeout)
                self._dog = [fd, timeout - lead, max(ivl // 2, (timeout - ivl - lead) // 2), -(1 << 62)]
        # What we inherited must not reach programs this worker runs.
        _cloexec(self._fd)
        sentinel = _env_fd(env, L.ENV_SENTINEL_FD)
        if sentinel is not None:
            _cloexec(sentinel)
        lifeline = _env_fd(env, L.ENV_LIFELINE_FD)
        if lifeline is not None:
            _cloexec(lifeline)
            threading.Thread(target=_watch_lifeline, args=(lifeline,), name="understudy-lifeline", daemon=True).start()
        # Not for the programs this worker runs: one that attached to the
        # segment could write into it.
        for k in _PROTOCOL_ENV:
            os.environ.pop(k, None)

    def _arm_robust(self):
        """Starts the thread whose robust list holds the lane's words.

        It is an OS thread started by the C library's pthread_create, not
        a threading.Thread: nothing of the Python runtime joins, reuses or
        stops it. It runs Python only to set itself up, then blocks for
        ever in pause() without the GIL, with every signal blocked, so it
        exits only when the whole process does: its exit is the death
        notice. glibc keeps a robust list per thread for robust mutexes;
        this thread replaces its own and never takes such a mutex.

        In a segment with lanes for spares it is raised (SCHED_FIFO 1,
        else a short slice): it never runs, and on a SIGKILL it runs its
        exit at once, and a parked spare, woken by that exit, takes over
        sooner. A lone worker's keeps the scheduling the process has, as
        the Go and C SDKs' thread does: its exit wakes only the supervisor,
        and raised it would preempt whatever runs where the SIGKILL wakes
        it, the supervisor's threads among them, while the supervisor's
        raised waiters could not preempt it in turn as it exits: the notice
        would come later. Either way its list is walked before the heap is
        torn down: the last thread to leave the address space tears it
        down, and this one leaves it only after the walk."""
        global _robust_start
        if _NO_ROBUST:
            return
        done = threading.Event()
        result = []
        lane = self._lane
        raise_it = self._layout.lanes > 1

        def main(_arg):
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
                tid = threading.get_native_id()
                # The kernel wakes in list order: the spares' words first,
                # the supervisor's (word 0) last.
                order = list(range(1, L.ROBUST_WORDS)) + [0]
                nxt = ctypes.addressof(_robust_head)
                for i in reversed(order):
                    entry = lane + L.L_ROBUST + 16 * i
                    at.store32(entry + 8, tid)
                    at.store64(entry, nxt)
                    nxt = entry
                _robust_head[0] = nxt
                _robust_head[1] = 8
                _robust_head[2] = 0
                r = _sys.set_robust_list(ctypes.addressof(_robust_head), ctypes.sizeof(_robust_head))
                if r < 0:
                    # No robust list (qemu-user has none): the words go
                    # back to no owner, so that no spare waits on them and
                    # a clean exit leaves nothing behind, and the thread,
                    # with nothing to hold, ends.
                    for i in order:
                        at.store32(lane + L.L_ROBUST + 16 * i + 8, 0)
                    result.append("set_robust_list: %s" % os.strerror(-r))
                    done.set()
                    return None
                at.store32(lane + L.L_ROBUST_TID, tid)
                result.append(None)
                if raise_it:
                    _raise_thread(tid, 0)
            except BaseException as e:  # noqa: BLE001 - reported to attach
                result.append(repr(e))
            done.set()
            _sys.pause_forever()
            return None

        _robust_start = _sys.THREAD_START(main)
        rc = _sys.pthread_create(_robust_start)
        if rc != 0:
            print("understudy: no early death notice: pthread_create: %s" % os.strerror(rc), file=sys.stderr)
            return
        done.wait()
        if result[0] is not None:
            print("understudy: no early death notice: %s" % result[0], file=sys.stderr)
            return
        self._armed = True

    # --- context manager -----------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        # A clean end (no exception, or sys.exit(0)) clears the death
        # notice first, so that the exit is not reported as a crash.
        if kind is None or (issubclass(kind, SystemExit) and value.code in (None, 0)):
            self.close()
        return False

    def close(self):
        """Clears the early death notice: call it just before a clean exit
        (leaving the with block does). The process should exit soon after:
        a crash from here on is caught only by the supervisor's pidfd."""
        if not self._armed:
            return
        self._armed = False
        for i in range(L.ROBUST_WORDS):
            w = self._lane + L.L_ROBUST + 16 * i + 8
            at.store32(w, 0)
            _sys.futex_wake(w)

    # --- basics --------------------------------------------------------------

    @property
    def heartbeat_interval(self):
        """How often the supervisor expects a beat, in seconds (0: never)."""
        return self._layout.hb_interval / 1e9

    @property
    def state_size(self):
        """The most bytes commit() takes (the spec's state size)."""
        return self._layout.state_size

    @property
    def ring_size(self):
        """The largest message recv() or reply() carries (0: no rings)."""
        return self._layout.ring_size - L.MESSAGE_HEADER if self._layout.ring_size else 0

    def ready(self):
        """Tells the supervisor the worker is warm. Again does nothing."""
        if self._ready:
            return
        self._ready = True
        word = self._lane + L.L_READY
        if at.cas32(word, L.READY_NO, L.READY_YES):
            _sys.futex_wake(word)

    def beat(self):
        """Records a heartbeat. Call it from the loop that does the work, so
        that a stuck loop stops beating."""
        now = time.monotonic_ns()
        at.store64(self._lane + L.L_LAST_BEAT, now)
        at.add64(self._lane + L.L_HEARTBEAT, 1)
        d = self._dog
        if d is not None and now - d[3] >= d[2]:
            d[3] = now
            _sys.timerfd_settime_abs(d[0], now + d[1])

    def mark(self, ns=None):
        """Leaves a CLOCK_MONOTONIC time (default now) in the lane, for
        benchmarks that measure across processes."""
        v = time.monotonic_ns() if ns is None else ns
        if self._u64 is not None:
            # A word only benchmarks read: an aligned plain store is whole.
            self._u64[(self._lane - self._base + L.L_MARK) >> 3] = v
        else:
            at.store64(self._lane + L.L_MARK, v)

    def _control_word(self):
        c = at.load64(self._control)
        return c >> 8, c & 0xFF

    @property
    def active(self):
        """Whether this process is the primary of its segment now."""
        e, lane = self._control_word()
        return lane == self.lane and e == self._epoch

    @property
    def epoch(self):
        """The epoch this process is primary under (None for a spare)."""
        return None if self._epoch >= L.MAX_EPOCH else self._epoch

    # --- hot standby ---------------------------------------------------------

    def wait_active(self, timeout=None):
        """Parks this process until it is the primary; returns at once if it
        already is. A spare calls it after ready(): it sleeps on a futex,
        using next to no CPU, until the supervisor promotes it, or until the
        kernel wakes it because the primary's robust thread died (then it promotes
        itself). On promotion it carries over the latest state the previous
        primary committed. Returns True when primary, False when timeout
        (seconds) passed first or cancel_wait() ended the wait.

        While it sleeps the cyclic garbage collector is off (it is turned
        back on, if it was on, once the promotion is done): nothing stands
        between the wake and the promotion but a few loads and the
        compare-and-swap.

        Woken more than 64 times in a second (another process of the
        segment can write and wake its words), it sleeps 1 ms before each
        further look in that second (docs/protocol.md). It also looks every
        100 ms on its own: on some virtual machines a process that slept
        longer wakes slowly (_PARK_REFRESH_NS)."""
        deadline = None if timeout is None else time.monotonic_ns() + int(timeout * 1e9)
        me = self.lane
        lay = self._layout
        park = self._lane + L.L_PARK
        raised = None
        gc_was = gc.isenabled()
        # Pre-bound for the wake: no attribute lookups on the way to the mark.
        wait_either = _sys.futex_wait_either
        cas64 = at.cas64
        control = self._control
        now = time.monotonic_ns
        wait_promote = _sys.wait_promote()
        promoted = _sys.WAIT_PROMOTED
        u64 = self._u64
        mark_at = (self._lane - self._base + L.L_MARK) >> 3
        refresh = _PARK_REFRESH_NS
        until = _sys.timespec()  # the refresh's deadline, for wait_promote
        until_at = ctypes.addressof(until)
        looks, since = 0, 0  # looks in the second that began at since
        try:
            while True:
                t = now()
                if t - since >= 1_000_000_000:
                    looks, since = 0, t
                looks += 1
                if looks > _PARK_LOOKS:
                    time.sleep(_PARK_NAP)
                e, active = self._control_word()
                if active == me:
                    r, raised = raised, None
                    self._become_primary(e, r)
                    return True
                if self._cancel:
                    self._cancel = False
                    at.cas32(park, _PARK_RELEASED, L.PARK_WAITING)
                    return False
                left = None
                if deadline is not None:
                    left = deadline - time.monotonic_ns()
                    if left <= 0:
                        return False
                pv = at.load32(park)
                if active >= lay.lanes or e + 1 >= L.MAX_EPOCH:
                    # A control word no promotion leaves: the supervisor
                    # repairs it and wakes us; look again now and then.
                    self._count_park_loop()
                    _sys.futex_wait(park, pv, min(left or 10**9, 10**9))
                    continue
                rw = self._base + lay.lane(active) + L.L_ROBUST + 16 * (1 + me) + 8
                rv = at.load32(rw)
                if rv & L.FUTEX_OWNER_DIED:
                    self._promote(e, active, me)
                    continue
                if rv & L.FUTEX_TID_MASK and not rv & L.FUTEX_WAITERS:
                    if not at.cas32(rw, rv, rv | L.FUTEX_WAITERS):
                        continue
                    rv |= L.FUTEX_WAITERS
                if pv == L.PARK_PROMOTED or pv == _PARK_RELEASED:
                    at.cas32(park, pv, L.PARK_WAITING)  # a stale wake or cancel
                    continue
                self._count_park_loop()
                if raised is None:
                    raised = _raise()
                if gc_was:
                    gc.disable()
                if left is not None:
                    _sys.futex_wait(park, L.PARK_WAITING, min(left, refresh))
                elif rv & L.FUTEX_TID_MASK and wait_promote is not None:
                    # The wait and the promotion's swap in one foreign call
                    # (x86-64): the kernel's wake, as the primary's robust
                    # thread dies, is followed by the swap without a line
                    # of Python, and the mark is the first line after it.
                    until.tv_sec, until.tv_nsec = divmod(t + refresh, 1_000_000_000)
                    r = wait_promote(_sys.waitv_pair(park, L.PARK_WAITING, rw, rv), rw, control,
                                     e << 8 | active, (e + 1) << 8 | me, until_at)
                    if r == promoted:
                        if u64 is not None:
                            u64[mark_at] = now()
                        else:
                            self.mark()
                        self._epoch = e + 1
                        r, raised = raised, None
                        self._become_primary(e + 1, r, marked=True)
                        return True
                    if r == -errno.ENOSYS or r == -errno.EINVAL:
                        _sys.waitv_missing()
                        wait_promote = None
                elif rv & L.FUTEX_TID_MASK:
                    load_rw = self._loader32(rw)
                    wait_either(park, L.PARK_WAITING, rw, rv, now() + refresh)
                    # The likeliest wake: the kernel's, as the primary's
                    # robust thread died. Promote at once; the mark is the
                    # first thing after the promotion.
                    if load_rw() & L.FUTEX_OWNER_DIED and cas64(control, e << 8 | active, (e + 1) << 8 | me):
                        self._epoch = e + 1
                        self.mark(now())
                        r, raised = raised, None
                        self._become_primary(e + 1, r, marked=True)
                        return True
                else:
                    _sys.futex_wait(park, L.PARK_WAITING, refresh)
        finally:
            if raised is not None:
                _restore(*raised)
            if gc_was:
                gc.enable()

    def cancel_wait(self):
        """Ends a wait_active in progress (it returns False) or, when none
        is, the next one at once; a promotion that came first wins. Any
        thread may call it. The lifeline needs none of this: when the
        supervisor is gone the worker's whole process group is killed."""
        self._cancel = True
        park = self._lane + L.L_PARK
        # The word too, not only the flag: a spare between its look and its
        # sleep then finds the word changed and does not sleep.
        at.cas32(park, L.PARK_WAITING, _PARK_RELEASED)
        _sys.futex_wake(park)

    def _loader32(self, addr):
        """A function of no arguments that loads the u32 at addr."""
        if _PLAIN_LOADS and self._u32 is not None:
            return functools.partial(self._u32.__getitem__, (addr - self._base) >> 2)
        return functools.partial(at.load32, addr)

    def _become_primary(self, epoch, raised, marked=False):
        self._adopt(epoch, marked)
        # The thread stays raised a millisecond more, for the new primary's
        # first work to run ahead too.
        if raised is not None:
            threading.Timer(0.001, _restore, args=raised).start()

    def _count_park_loop(self):
        w = self._lane + L.L_PARK_LOOPS
        at.store32(w, (at.load32(w) + 1) & 0xFFFFFFFF)

    def _promote(self, epoch, frm, to):
        return at.cas64(self._control, epoch << 8 | frm, (epoch + 1) << 8 | to)

    def _adopt(self, epoch, marked=False):
        self._epoch = epoch
        if not marked:
            self.mark()  # the instant of the promotion, for benchmarks
        self.beat()  # the new primary's heartbeat clock starts here
        if self._layout.state_size == 0:
            return
        got = self._committed(epoch, self.lane, adopting=True)
        if got is None:
            return
        self._write_state(epoch, got[0])

    # --- state ---------------------------------------------------------------

    def commit(self, data):
        """Publishes data (bytes-like, at most state_size bytes) as the
        latest state, atomically: a spare taking over sees this commit or
        the previous one, never a mix. Raises Fenced when this process is no
        longer the primary."""
        e, lane = self._control_word()
        if lane != self.lane or e != self._epoch:
            raise Fenced("understudy: fenced: another process is the primary now")
        self._write_state(e, data)

    def _write_state(self, epoch, data):
        lay = self._layout
        if lay.state_size == 0:
            raise NoState("understudy: the segment has no state region (state size 0)")
        n = len(data)
        if n > lay.state_size:
            raise ValueError("understudy: state of %d bytes, the slot holds %d" % (n, lay.state_size))
        seq_word = self._base + lay.state_region(self.lane) + L.S_SEQUENCE
        nxt = at.load64(seq_word) + 1
        off = lay.slot(self.lane, nxt)
        slot = self._base + off
        at.store64(slot + L.S_SLOT_SEQ, 0)
        data_off = off + L.S_SLOT_HEADER
        self._mm[data_off:data_off + n] = data
        at.store64(slot + L.S_SLOT_EPOCH, epoch)
        at.store32(slot + L.S_SLOT_LEN, n)
        at.store64(slot + L.S_SLOT_SEQ, nxt)
        at.store64(seq_word, nxt)

    def state(self):
        """The latest committed state, as bytes; raises NoState when there
        is none."""
        e, lane = self._control_word()
        got = self._committed(e, lane)
        if got is None:
            raise NoState("understudy: no state committed")
        return got[0]

    def _slot_head(self, i):
        lay = self._layout
        seq = at.load64(self._base + lay.state_region(i))
        if seq == 0:
            return 0, 0
        return seq, at.load64(self._base + lay.slot(i, seq) + L.S_SLOT_EPOCH)

    def _read_lane(self, i):
        """Lane i's latest commit as (bytes, epoch), or None."""
        lay = self._layout
        seq_word = self._base + lay.state_region(i)
        for _ in range(64):
            seq = at.load64(seq_word)
            if seq == 0:
                return None
            off = lay.slot(i, seq)
            slot = self._base + off
            if at.load64(slot + L.S_SLOT_SEQ) != seq:
                continue
            epoch = at.load64(slot + L.S_SLOT_EPOCH)
            n = at.load32(slot + L.S_SLOT_LEN)
            if n > lay.state_size:
                raise NoState("understudy: corrupt state slot: lane %d length %d, the slot holds %d" % (i, n, lay.state_size))
            data = self._mm[off + L.S_SLOT_HEADER:off + L.S_SLOT_HEADER + n]
            if at.cas64(slot + L.S_SLOT_SEQ, seq, seq):  # a full barrier: the copy is whole
                return data, epoch
        raise NoState("understudy: lane %d's state kept changing while read" % i)

    def _committed(self, epoch, primary, adopting=False):
        """The commit that counts (docs/protocol.md, "which commit
        counts"): the primary's at exactly epoch; else the highest epoch
        strictly below it in any lane (on a tie, another lane's before the
        primary's own, then the higher sequence). Returns (bytes, lane) or
        None."""
        lay = self._layout
        if lay.state_size == 0:
            return None

        def read(i, want):
            if self._slot_head(i)[1] != want:
                return None
            got = self._read_lane(i)
            if got is None or got[1] != want:
                return None
            return got[0], i

        if 0 <= primary < lay.lanes and not adopting:
            got = read(primary, epoch)
            if got is not None:
                return got
        best, top = -1, None
        for i in range(lay.lanes):
            sq, claim = self._slot_head(i)
            if sq == 0 or claim >= epoch:
                continue
            rank = (claim, i != primary, sq)
            if best < 0 or rank > top:
                best, top = i, rank
        if best >= 0:
            return read(best, top[0])
        return None

    # --- command rings -------------------------------------------------------

    def _ring(self, i):
        if self._layout.ring_size == 0:
            raise NoRing("understudy: the segment has no command rings (ring size 0)")
        return self._layout.ring(i)

    def _indices(self, off):
        head = at.load64(self._base + off + L.R_HEAD)
        tail = at.load64(self._base + off + L.R_TAIL)
        size = self._layout.ring_size
        if tail - head > size or tail < head or head % 8 or tail % 8:
            raise OSError("understudy: corrupt ring: head %d, tail %d, size %d" % (head, tail, size))
        return head, tail

    def _get(self, data, at_, n):
        size = self._layout.ring_size
        i = at_ % size
        if i + n <= size:
            return self._mm[data + i:data + i + n]
        return self._mm[data + i:data + size] + self._mm[data:data + n - (size - i)]

    def _put(self, data, at_, b):
        size = self._layout.ring_size
        i = at_ % size
        n = len(b)
        if i + n <= size:
            self._mm[data + i:data + i + n] = b
        else:
            k = size - i
            self._mm[data + i:data + size] = b[:k]
            self._mm[data:data + n - k] = b[k:]

    def try_recv(self):
        """The next command from the supervisor as bytes, or None when the
        ring is empty. A corrupt ring (the primary's doing) reads as empty
        until the supervisor has emptied it."""
        off = self._ring(L.TO_WORKER)
        try:
            head, tail = self._indices(off)
        except OSError:
            return None
        if head == tail:
            return None
        data = off + L.RING_HEADER
        (n,) = struct.unpack("<I", self._get(data, head, 4))
        need = L.MESSAGE_HEADER + L.roundup(n, 8)
        if need > tail - head:
            return None
        msg = self._get(data, head + L.MESSAGE_HEADER, n)
        at.store64(self._base + off + L.R_HEAD, head + need)
        return msg

    def recv(self, timeout=None):
        """Waits for the next command from the supervisor and returns it as
        bytes; None when timeout (seconds) passed first. It sleeps on a
        futex while the ring is empty."""
        off = self._ring(L.TO_WORKER)
        waiters = self._base + off + L.R_WAITERS
        deadline = None if timeout is None else time.monotonic_ns() + int(timeout * 1e9)
        empty, nap = 0, 100_000
        while True:
            msg = self.try_recv()
            if msg is not None:
                return msg
            left = None
            if deadline is not None:
                left = deadline - time.monotonic_ns()
                if left <= 0:
                    return None
            # The waiters word is any process's to write: after a few waits
            # that ended with the ring still empty, nap instead, backing off.
            if empty >= 4:
                d = nap if left is None else min(nap, left)
                time.sleep(d / 1e9)
                nap = min(2 * nap, 5_000_000)
                continue
            at.store32(waiters, 1)
            try:
                head, tail = self._indices(off)
            except OSError:  # corrupt: back off until the supervisor empties it
                empty += 1
                continue
            if head == tail:
                _sys.futex_wait(waiters, 1, left)
                empty += 1

    def reply(self, msg):
        """Sends msg (bytes-like) to the supervisor. Never blocks: raises
        RingFull when it does not fit now, ValueError when it never can."""
        off = self._ring(L.FROM_WORKER)
        size = self._layout.ring_size
        msg = bytes(msg)
        need = L.MESSAGE_HEADER + L.roundup(len(msg), 8)
        if need > size:
            raise ValueError("understudy: message of %d bytes, the ring holds %d" % (len(msg), size - L.MESSAGE_HEADER))
        head, tail = self._indices(off)
        if size - (tail - head) < need:
            raise RingFull("understudy: ring full: %d bytes wanted, %d free" % (need, size - (tail - head)))
        data = off + L.RING_HEADER
        self._put(data, tail, struct.pack("<II", len(msg), 0) + msg + bytes(L.roundup(len(msg), 8) - len(msg)))
        at.store64(self._base + off + L.R_TAIL, tail + need)
        waiters = self._base + off + L.R_WAITERS
        if at.load32(waiters) != 0:
            at.store32(waiters, 0)
            _sys.futex_wake(waiters)


# The short slice asked for when the real-time class is refused (ns).
_SLICE_NS = 100_000


def _raise():
    """Raises the calling thread, so that a woken spare runs at once, ahead
    of the dying primary's teardown and of whatever holds the CPUs: to the
    lowest real-time priority (SCHED_FIFO 1) where the process may have it,
    else to a short slice (sched_setattr's runtime, honoured by Linux 6.12
    and later), with which a waking task preempts one of a longer slice;
    both with reset-on-fork. A thread in a class the program chose keeps
    it. Returns what _restore needs, or None."""
    if _UNRAISED:
        return None
    tid = threading.get_native_id()
    old = _sys.sched_getattr(tid)
    if old is None or old.policy != _sys.SCHED_NORMAL:
        return None
    if not _raise_thread(tid, old.nice):
        return None
    # Only a privileged process may clear reset-on-fork once set.
    old.flags |= _sys.SCHED_FLAG_RESET_ON_FORK
    return (tid, old)


def _raise_thread(tid, nice):
    """Raises thread tid to SCHED_FIFO 1, else to a short slice; reports
    whether either was granted."""
    fifo = _sys.sched_attr(policy=_sys.SCHED_FIFO, priority=1, flags=_sys.SCHED_FLAG_RESET_ON_FORK)
    if _sys.sched_setattr(tid, fifo) == 0:
        return True
    short = _sys.sched_attr(policy=_sys.SCHED_NORMAL, nice=nice, runtime=_SLICE_NS,
                            flags=_sys.SCHED_FLAG_RESET_ON_FORK)
    return _sys.sched_setattr(tid, short) == 0


def _restore(tid, old):
    """Gives thread tid back what it had before _raise, if it is still as
    _raise left it."""
    cur = _sys.sched_getattr(tid)
    if cur is None:
        return
    if not (cur.policy == _sys.SCHED_FIFO and cur.priority == 1 or
            cur.policy == _sys.SCHED_NORMAL and cur.runtime == _SLICE_NS):
        return
    if _sys.sched_setattr(tid, old) != 0:
        _sys.sched_setattr(tid, _sys.sched_attr(policy=_sys.SCHED_NORMAL, nice=old.nice, flags=old.flags))


def _watch_lifeline(fd):
    """Kills this worker's process group when the supervisor is gone: the
    lifeline's write end lives only in the supervisor, so a read sees EOF
    when it died, however it died. EAGAIN and EINTR are not EOF."""
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    except (OSError, ValueError):
        pass
    while True:
        try:
            if os.read(fd, 1) == b"":
                break
        except BlockingIOError:
            p = select.poll()
            p.register(fd, select.POLLIN)
            p.poll()
        except OSError:
            break
    os.write(2, b"understudy: the supervisor is gone; exiting\n")
    os.kill(0, signal.SIGKILL)
    os._exit(1)


_attached = None
_attach_lock = threading.Lock()


def attach(exit_on_refusal=True):
    """Maps the segment the supervisor handed down, checks it, arms the early
    death notice, the watchdog and the lifeline, and returns the Worker.
    Called again, it returns the same Worker.

    A segment this package cannot serve (another layout version, a bad
    size or lane) is refused as the protocol asks: the verdict is written
    into the segment and, with exit_on_refusal (the default), the process
    exits with status 78 after a message on stderr; otherwise AttachError
    is raised. A process not started by a supervisor gets NotAWorker.

    SIGTERM, left at its default, becomes SystemExit(0): leaving the with
    block on it is a clean end."""
    global _attached
    with _attach_lock:
        if _attached is not None:
            return _attached
        env = dict(os.environ)
        fd = _env_fd(env, L.ENV_SEGMENT_FD)
        if fd is None:
            raise NotAWorker("understudy: not started by an understudy supervisor (no %s)" % L.ENV_SEGMENT_FD)
        try:
            w = Worker(fd, env.get(L.ENV_LANE), env, exit_on_refusal)
        except OSError as e:
            raise AttachError("understudy: the segment at fd %d is unusable: %s" % (fd, e)) from e
        w._start(env)
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
        _attached = w
        return w


def _on_sigterm(signum, frame):
    raise SystemExit(0)
