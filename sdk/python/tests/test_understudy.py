"""The package's own tests, with the standard library's unittest:

    python3 -m unittest discover -s sdk/python/tests

Processes are real: a stand-in supervisor (segfake) lays out a segment
and starts Python workers on it. The shared scenario suite in sdk/ runs
the same package under the real supervisor."""

import ctypes
import os
import re
import select
import signal
import struct
import subprocess
import sys
import time
import unittest

try:
    import understudy  # installed (CI: pip install --no-index into a venv)
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src"))
    import understudy
from understudy import _layout as L  # noqa: E402
from understudy import _sys  # noqa: E402
from understudy._worker import Worker  # noqa: E402

from segfake import PKG, PYTHON, Segment, robust_lists, until  # noqa: E402

PROTOCOL_MD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs", "protocol.md")


class LayoutTest(unittest.TestCase):
    def test_rule(self):
        l = L.Layout(3, state_size=100, ring_size=4096)
        self.assertEqual(l.lanes_off, 256)
        self.assertEqual(l.state_off, 256 + 3 * 512)
        lane_state = 64 + 2 * (64 + 128)
        self.assertEqual(l.rings_off, l.state_off + 3 * lane_state)
        self.assertEqual(l.total, L.roundup(l.rings_off + 2 * (192 + 4096), 4096))

    def test_parse_roundtrip(self):
        l = L.Layout(2, state_size=8, ring_size=64, hb_interval=10**6, hb_timeout=10**7)
        mem = bytearray(l.total)
        mem[:L.HEADER_SIZE] = l.header()
        got = L.parse_header(mem, len(mem))
        for k in L.Layout.__slots__:
            self.assertEqual(getattr(got, k), getattr(l, k), k)

    def test_refusals(self):
        l = L.Layout(1)
        cases = [
            ("magic", 0, "<Q", 1, L.ATTACH_BAD_MAGIC),
            ("version", 8, "<I", 2, L.ATTACH_BAD_VERSION),
            ("header size", 12, "<I", 128, L.ATTACH_BAD_SIZE),
            ("total", 16, "<Q", 8192, L.ATTACH_BAD_SIZE),
            ("lanes", 28, "<I", 16, L.ATTACH_BAD_SIZE),
            ("lane size", 32, "<I", 256, L.ATTACH_BAD_SIZE),
            ("ring size", 40, "<I", 100, L.ATTACH_BAD_SIZE),
            ("rings offset", 72, "<Q", 1024, L.ATTACH_BAD_SIZE),
        ]
        for name, off, fmt, v, verdict in cases:
            with self.subTest(name):
                mem = bytearray(l.total)
                mem[:L.HEADER_SIZE] = l.header()
                struct.pack_into(fmt, mem, off, v)
                with self.assertRaises(L.LayoutError) as cm:
                    L.parse_header(mem, len(mem))
                self.assertEqual(cm.exception.verdict, verdict)
        with self.assertRaises(L.LayoutError):
            L.parse_header(bytes(100), 100)

    def test_protocol_constants(self):
        """The constants table of docs/protocol.md, against this package."""
        if not os.path.exists(PROTOCOL_MD):
            self.skipTest("docs/protocol.md is not beside this package")
        with open(PROTOCOL_MD, encoding="utf-8") as f:
            text = f.read()
        table = text.split("<!-- protocol constants: begin -->")[1].split("<!-- protocol constants: end -->")[0]
        rows = dict(re.findall(r"^\| `([^`]+)` \| (\S+) \|$", table, re.M))
        ours = {
            "version": L.VERSION, "magic": L.MAGIC, "header.size": L.HEADER_SIZE,
            "header.magic": L.H_MAGIC, "header.version": L.H_VERSION, "header.header_size": L.H_HEADER_SIZE,
            "header.total_size": L.H_TOTAL_SIZE, "header.attach_verdict": L.H_ATTACH_VERDICT,
            "header.lanes": L.H_LANES, "header.lane_size": L.H_LANE_SIZE, "header.state_size": L.H_STATE_SIZE,
            "header.ring_size": L.H_RING_SIZE, "header.flags": L.H_FLAGS,
            "header.heartbeat_interval": L.H_HB_INTERVAL, "header.lanes_off": L.H_LANES_OFF,
            "header.state_off": L.H_STATE_OFF, "header.rings_off": L.H_RINGS_OFF,
            "header.heartbeat_timeout": L.H_HB_TIMEOUT, "header.control": L.H_CONTROL,
            "lane.size": L.LANE_SIZE, "lane.heartbeat": L.L_HEARTBEAT, "lane.last_beat": L.L_LAST_BEAT,
            "lane.mark": L.L_MARK, "lane.ready": L.L_READY, "lane.pid": L.L_PID,
            "lane.robust_tid": L.L_ROBUST_TID, "lane.park_loops": L.L_PARK_LOOPS, "lane.park": L.L_PARK,
            "lane.robust": L.L_ROBUST, "line": L.LINE, "max_lanes": L.MAX_LANES,
            "robust_words": L.ROBUST_WORDS, "max_state_size": L.MAX_STATE_SIZE,
            "max_ring_size": L.MAX_RING_SIZE, "max_epoch": L.MAX_EPOCH,
            "ready.no": L.READY_NO, "ready.yes": L.READY_YES, "ready.aborted": L.READY_ABORTED,
            "park.waiting": L.PARK_WAITING, "park.promoted": L.PARK_PROMOTED,
            "futex.waiters": L.FUTEX_WAITERS, "futex.owner_died": L.FUTEX_OWNER_DIED,
            "futex.tid_mask": L.FUTEX_TID_MASK, "attach.ok": L.ATTACH_OK,
            "attach.bad_magic": L.ATTACH_BAD_MAGIC, "attach.bad_version": L.ATTACH_BAD_VERSION,
            "attach.bad_size": L.ATTACH_BAD_SIZE, "attach.bad_lane": L.ATTACH_BAD_LANE,
            "attach.exit_status": L.ATTACH_EXIT_STATUS, "state.sequence": L.S_SEQUENCE,
            "state.slot_header": L.S_SLOT_HEADER, "state.slot_seq": L.S_SLOT_SEQ,
            "state.slot_epoch": L.S_SLOT_EPOCH, "state.slot_len": L.S_SLOT_LEN,
            "ring.to_worker": L.TO_WORKER, "ring.from_worker": L.FROM_WORKER,
            "ring.header": L.RING_HEADER, "ring.head": L.R_HEAD, "ring.tail": L.R_TAIL,
            "ring.waiters": L.R_WAITERS, "ring.message_header": L.MESSAGE_HEADER,
            "fd.segment": L.FD_SEGMENT, "fd.lifeline": L.FD_LIFELINE, "fd.sentinel": L.FD_SENTINEL,
            "env.segment_fd": L.ENV_SEGMENT_FD, "env.lane": L.ENV_LANE,
            "env.lifeline_fd": L.ENV_LIFELINE_FD, "env.sentinel_fd": L.ENV_SENTINEL_FD,
            "env.watchdog_fd": L.ENV_WATCHDOG_FD, "env.epoch": L.ENV_EPOCH, "env.worker": L.ENV_WORKER,
        }
        self.assertEqual(sorted(rows), sorted(ours), "names in the table and in the package differ")
        for name, v in ours.items():
            doc = rows[name]
            want = doc if isinstance(v, str) else int(doc, 0)
            self.assertEqual(v, want, name)


ATOMICS_CHECK = r"""
import ctypes
from understudy import _atomic as a
w = (ctypes.c_uint64 * 2)(); p = ctypes.addressof(w)
a.store64(p, 5)
assert a.load64(p) == 5
assert a.cas64(p, 5, 7) and not a.cas64(p, 5, 9) and a.load64(p) == 7
assert a.add64(p, 3) == 7 and a.load64(p) == 10
a.store64(p, 2**64 - 1); assert a.load64(p) == 2**64 - 1
a.store32(p + 8, 0x10)
assert a.or32(p + 8, 0x80000000) == 0x10 and a.load32(p + 8) == 0x80000010
assert a.cas32(p + 8, 0x80000010, 1) and not a.cas32(p + 8, 0, 2) and a.load32(p + 8) == 1
print(a.BACKEND)
"""


class AtomicsTest(unittest.TestCase):
    def test_backends(self):
        import platform
        kinds = ["libatomic"]
        if platform.machine() in ("x86_64", "amd64"):
            kinds.append("inline")
        for kind in kinds:
            with self.subTest(kind):
                env = dict(os.environ, UNDERSTUDY_ATOMICS=kind, PYTHONPATH=PKG)
                r = subprocess.run(PYTHON + ["-c", ATOMICS_CHECK], env=env, capture_output=True, text=True)
                if kind == "libatomic" and "no atomic" in r.stderr or "libatomic" in r.stderr and "OSError" in r.stderr:
                    self.skipTest("no libatomic here")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.strip(), kind)


def inproc(seg, lane=0, epoch="0"):
    """A Worker in this process, without the threads attach starts."""
    env = {L.ENV_EPOCH: epoch} if epoch is not None else {}
    return Worker(seg.fd, str(lane), env, False)


class SyscallNumbersTest(unittest.TestCase):
    """The system call numbers, by machine, against the kernel headers that
    a (cross) compiler installs, where they are installed."""

    HEADERS = {
        "x86_64": ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/x86_64-linux-gnu/include/asm/unistd_64.h"],
        "aarch64": ["/usr/aarch64-linux-gnu/include/asm-generic/unistd.h", "/usr/include/asm-generic/unistd.h"],
    }

    def test_numbers(self):
        from understudy import _sys
        for machine, paths in self.HEADERS.items():
            with self.subTest(machine):
                path = next((p for p in paths if os.path.exists(p)), None)
                if path is None:
                    self.skipTest("no %s headers here" % machine)
                with open(path) as f:
                    text = f.read()
                for name, nr in _sys._NUMBERS[machine].items():
                    m = re.search(r"#define __NR(?:3264)?_%s\s+(\d+)\b" % name, text)
                    self.assertIsNotNone(m, "%s: %s not in %s" % (machine, name, path))
                    self.assertEqual(int(m.group(1)), nr, "%s: %s in %s" % (machine, name, path))


class StateTest(unittest.TestCase):
    def setUp(self):
        self.seg = Segment(lanes=2, state_size=16)

    def tearDown(self):
        self.seg.close()

    def test_commit_and_read(self):
        w = inproc(self.seg)
        with self.assertRaises(understudy.NoState):
            w.state()
        for i in range(5):
            w.commit(b"n=%d" % i)
            self.assertEqual(w.state(), b"n=%d" % i)
        self.assertEqual(self.seg.u64(self.seg.layout.state_region(0)), 5)
        w.commit(b"")
        self.assertEqual(w.state(), b"")
        with self.assertRaises(ValueError):
            w.commit(bytes(17))

    def test_fenced(self):
        w = inproc(self.seg)
        w.commit(b"before")
        self.seg.control(1, 1)  # a spare took over
        self.assertFalse(w.active)
        with self.assertRaises(understudy.Fenced):
            w.commit(b"after")

    def test_adopt(self):
        """A spare promoted under epoch 1 re-commits the primary's state
        under its own epoch; a slot claiming a later epoch is never read."""
        primary = inproc(self.seg, 0, "0")
        primary.commit(b"counted to 7")
        spare = inproc(self.seg, 1, "spare")
        self.assertIsNone(spare.epoch)
        self.seg.control(1, 1)
        self.assertTrue(spare.wait_active(timeout=5))
        self.assertEqual(spare.epoch, 1)
        self.assertEqual(spare.state(), b"counted to 7")
        region = self.seg.layout.state_region(1)
        n = self.seg.u64(region)
        self.assertEqual(self.seg.u64(self.seg.layout.slot(1, n) + L.S_SLOT_EPOCH), 1)
        # A fenced primary's late write (its own lane, its old epoch) does not count.
        primary._write_state(0, b"late")
        self.assertEqual(spare.state(), b"counted to 7")

    def test_no_state_region(self):
        seg = Segment(lanes=1)
        try:
            w = inproc(seg)
            with self.assertRaises(understudy.NoState):
                w.commit(b"x")
        finally:
            seg.close()


class RingTest(unittest.TestCase):
    def setUp(self):
        self.seg = Segment(lanes=1, ring_size=64)
        self.w = inproc(self.seg)

    def tearDown(self):
        self.seg.close()

    def test_round_trips_wrapping(self):
        for i in range(40):  # many times round a 64-byte ring
            msg = b"m%02d-" % i + b"x" * (i % 13)
            self.seg.send(msg)
            self.assertEqual(self.w.recv(timeout=1), msg)
            self.w.reply(b"echo:" + msg[:20])
            self.assertEqual(self.seg.recv(), b"echo:" + msg[:20])

    def test_largest_and_full(self):
        self.assertEqual(self.w.ring_size, 56)
        self.seg.send(b"a" * 56)
        self.assertEqual(self.w.recv(timeout=1), b"a" * 56)
        self.w.reply(b"b" * 56)
        with self.assertRaises(understudy.RingFull):
            self.w.reply(b"c")
        self.assertEqual(self.seg.recv(), b"b" * 56)
        with self.assertRaises(ValueError):
            self.w.reply(b"d" * 57)

    def test_timeout(self):
        t = time.monotonic()
        self.assertIsNone(self.w.recv(timeout=0.05))
        self.assertGreaterEqual(time.monotonic() - t, 0.04)
        self.assertIsNone(self.w.try_recv())

    def test_corrupt_ring_reads_as_empty(self):
        # A corrupt ring is the primary's doing: the worker waits as on an
        # empty ring until the supervisor empties it (the worker's index
        # set to its own), then reads on.
        off = self.seg.layout.ring(L.TO_WORKER)
        tail = self.seg.u64(off + L.R_TAIL)
        self.seg.u64(off + L.R_HEAD, tail + 1000)
        self.assertIsNone(self.w.try_recv())
        self.assertIsNone(self.w.recv(timeout=0.05))
        self.seg.u64(off + L.R_HEAD, tail)
        self.seg.send(b"after")
        self.assertEqual(self.w.recv(timeout=1), b"after")

    def test_no_rings(self):
        seg = Segment(lanes=1)
        try:
            with self.assertRaises(understudy.NoRing):
                inproc(seg).reply(b"x")
        finally:
            seg.close()


READY_AND_SLEEP = r"""
import time, understudy
w = understudy.attach()
w.ready()
print("ready", flush=True)
time.sleep(600)
"""


class ProcessTest(unittest.TestCase):
    """Workers in processes of their own: what needs the threads attach
    starts, and the kernel."""

    robust = None  # whether the kernel keeps robust lists here, asked once

    def setUp(self):
        self.seg = Segment(lanes=2, state_size=8, ring_size=4096, hb_interval=10**7, hb_timeout=10**8)

    def need_robust_lists(self):
        if ProcessTest.robust is None:
            ProcessTest.robust = robust_lists()
        if not ProcessTest.robust:
            self.skipTest("set_robust_list is not implemented here (qemu-user): no death notice")

    def tearDown(self):
        self.seg.close()

    def test_ready_and_death_notice(self):
        self.need_robust_lists()
        p = self.seg.start(READY_AND_SLEEP)
        lane = self.seg.lane(0)
        until(lambda: self.seg.u32(lane + L.L_READY) == L.READY_YES, "ready")
        self.assertEqual(self.seg.u32(lane + L.L_PID), p.pid)
        tid = self.seg.u32(lane + L.L_ROBUST_TID)
        self.assertNotEqual(tid, 0)
        self.assertNotEqual(tid, p.pid, "the robust list must be held by a thread of its own")
        for i in range(L.ROBUST_WORDS):
            self.assertEqual(self.seg.u32(self.seg.robust_word(0, i)), tid, i)
        # The list: e1 -> e2 -> ... -> e15 -> e0 -> head (private memory).
        entry0 = self.seg.u64(self.seg.lane(0) + L.L_ROBUST + 16 * 15)
        for i in range(1, 15):
            self.assertEqual(self.seg.u64(lane + L.L_ROBUST + 16 * i), entry0 + 16 * (i + 1), i)
        self.assertNotIn(self.seg.u64(lane + L.L_ROBUST), range(entry0 - 1024, entry0 + 1024))
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        # The kernel marked every word as it walked the list: the owner
        # died (it keeps only the waiters bit beside it).
        for i in range(L.ROBUST_WORDS):
            self.assertEqual(self.seg.u32(self.seg.robust_word(0, i)) & ~L.FUTEX_WAITERS, L.FUTEX_OWNER_DIED, i)

    def test_robust_thread_scheduling(self):
        # A lone worker's robust thread keeps the scheduling the process
        # has (policy, priority, nice and slice): the supervisor's raised
        # waiters, the only ones its exit wakes, must be able to preempt
        # it. With lanes for spares it is raised, for the takeover, where
        # the process may be.
        self.need_robust_lists()
        for lanes in (1, 2):
            with self.subTest(lanes=lanes):
                seg = Segment(lanes=lanes)
                try:
                    p = seg.start(READY_AND_SLEEP)
                    self.assertEqual(p.stdout.readline(), b"ready\n")
                    tid = seg.u32(seg.lane(0) + L.L_ROBUST_TID)
                    self.assertNotEqual(tid, 0)
                    main, robust = _sys.sched_getattr(p.pid), _sys.sched_getattr(tid)
                    self.assertIsNotNone(main)
                    self.assertIsNotNone(robust)
                    got = [getattr(robust, f) for f in ("policy", "priority", "nice", "runtime")]
                    kept = [getattr(main, f) for f in ("policy", "priority", "nice", "runtime")]
                    if lanes == 1:
                        self.assertEqual(got, kept)
                    elif os.geteuid() == 0:
                        self.assertEqual((robust.policy, robust.priority), (_sys.SCHED_FIFO, 1))
                finally:
                    seg.close()

    def test_clean_exit_disarms(self):
        p = self.seg.start("import understudy\nwith understudy.attach() as w:\n    w.ready()\n")
        self.assertEqual(p.wait(timeout=30), 0, p.stderr.read())
        for i in range(L.ROBUST_WORDS):
            self.assertEqual(self.seg.u32(self.seg.robust_word(0, i)), 0, i)

    def test_sigterm_is_a_clean_end(self):
        # Short sleeps, not one long one: a signal that lands after the
        # interpreter's last check for handlers and before it enters a
        # sleep runs its handler only when that sleep ends (CPython's own
        # race, microseconds wide natively, wide under qemu-user).
        code = READY_AND_SLEEP.replace("w = understudy.attach()\n", "with understudy.attach() as w:\n  pass\n")
        p = self.seg.start(code.replace("time.sleep(600)", "while True:\n    time.sleep(0.05)"))
        p.stdout.readline()
        os.kill(p.pid, signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0)
        self.assertEqual(self.seg.u32(self.seg.robust_word(0, 0)), 0)

    def test_refuses_other_version(self):
        self.seg.u32(L.H_VERSION, 2)
        p = self.seg.start(READY_AND_SLEEP)
        self.assertEqual(p.wait(timeout=30), L.ATTACH_EXIT_STATUS)
        self.assertEqual(self.seg.u32(L.H_ATTACH_VERDICT), L.ATTACH_BAD_VERSION)
        self.assertIn(b"layout version mismatch", p.stderr.read())

    def test_refuses_bad_lane(self):
        for lane in ("2", "x", ""):
            with self.subTest(lane=lane):
                self.seg.u32(L.H_ATTACH_VERDICT, 0)
                p = self.seg.start(READY_AND_SLEEP, lane=lane)
                self.assertEqual(p.wait(timeout=30), L.ATTACH_EXIT_STATUS)
                self.assertEqual(self.seg.u32(L.H_ATTACH_VERDICT), L.ATTACH_BAD_LANE)

    def test_not_a_worker(self):
        r = subprocess.run(PYTHON + ["-c", "import understudy\ntry:\n understudy.attach()\nexcept understudy.NotAWorker as e:\n print(e)"],
                           env=dict(os.environ, PYTHONPATH=PKG, UNDERSTUDY_SEGMENT_FD=""), capture_output=True, text=True)
        self.assertIn("not started by an understudy supervisor", r.stdout)
        r = subprocess.run(PYTHON + ["-c", "import understudy\ntry:\n understudy.attach()\nexcept understudy.AttachError as e:\n print(e)"],
                           env=dict(os.environ, PYTHONPATH=PKG, UNDERSTUDY_SEGMENT_FD="1"), capture_output=True, text=True)
        self.assertIn("UNDERSTUDY_SEGMENT_FD = '1' is not a descriptor number", r.stdout)

    def test_beats_and_watchdog(self):
        libc = ctypes.CDLL(None, use_errno=True)
        tfd = libc.timerfd_create(1, 0o2000000)  # CLOCK_MONOTONIC, TFD_CLOEXEC
        self.assertGreaterEqual(tfd, 0)
        try:
            code = "import time, understudy\nw = understudy.attach()\nw.ready()\nfor _ in range(20):\n    w.beat(); time.sleep(0.001)\nprint('done', flush=True)\ntime.sleep(600)\n"
            p = self.seg.start(code, env={L.ENV_WATCHDOG_FD: str(tfd)}, pass_fds=(tfd,))
            self.assertEqual(p.stdout.readline(), b"done\n")
            lane = self.seg.lane(0)
            self.assertEqual(self.seg.u64(lane + L.L_HEARTBEAT), 20)
            last = self.seg.u64(lane + L.L_LAST_BEAT)
            self.assertLess(abs(time.monotonic_ns() - last), 60 * 10**9)
            spec = (ctypes.c_long * 4)()
            self.assertEqual(libc.timerfd_gettime(tfd, spec), 0)
            # Armed, or armed and expired already (a slow machine, or an
            # emulator): then the timerfd reads.
            expired = select.select([tfd], [], [], 0)[0]
            self.assertTrue(spec[2] or spec[3] or expired, "the watchdog was never armed")
        finally:
            os.close(tfd)

    def test_failover_by_the_kernel(self):
        """The primary dies; the parked spare, woken by the kernel through
        the primary's robust word, promotes itself, leaves its mark and
        carries the state: with the wait and the swap in one foreign call
        (x86-64) and with both in Python (every machine)."""
        self.need_robust_lists()
        for way, prelude in (("default", ""), ("python", "import understudy._sys as s\ns._wait_promote[:] = [None, None]\n")):
            with self.subTest(way=way):
                self.seg.close()
                self.seg = Segment(lanes=2, state_size=8, ring_size=4096, hb_interval=10**7, hb_timeout=10**8)
                primary = self.seg.start("import struct, time, understudy\nw = understudy.attach()\nw.ready()\nw.commit(struct.pack('<Q', 41))\nprint('up', flush=True)\ntime.sleep(600)\n")
                self.assertEqual(primary.stdout.readline(), b"up\n")
                spare = self.seg.start(prelude + "import struct, understudy\nw = understudy.attach()\nw.ready()\nw.wait_active()\n"
                                       "print('active', w.epoch, struct.unpack('<Q', w.state())[0], flush=True)\nw.commit(struct.pack('<Q', 42))\n",
                                       lane=1, epoch="spare")
                lane1 = self.seg.lane(1)
                until(lambda: self.seg.u32(lane1 + L.L_READY) == L.READY_YES, "spare ready")
                # Parked: the spare set FUTEX_WAITERS on its word of the primary's lane.
                until(lambda: self.seg.u32(self.seg.robust_word(0, 2)) & L.FUTEX_WAITERS, "spare parked")
                t0 = time.monotonic_ns()
                os.kill(primary.pid, signal.SIGKILL)
                self.assertEqual(spare.stdout.readline(), b"active 1 41\n")
                self.assertEqual(self.seg.control(), (1, 1))
                self.assertGreater(self.seg.u64(lane1 + L.L_MARK), t0)
                self.assertEqual(spare.wait(timeout=30), 0, spare.stderr.read())
                primary.wait()

    def test_parked_spare_looks_up(self):
        """A parked spare looks again every 100 ms with nothing to wake it
        (a long sleep wakes slowly on some virtual machines), sleeps again,
        and is still promoted by the kernel's wake: with the wait in
        machine code (x86-64) and in Python."""
        self.need_robust_lists()
        for way, prelude in (("default", ""), ("python", "import understudy._sys as s\ns._wait_promote[:] = [None, None]\n")):
            with self.subTest(way=way):
                self.seg.close()
                self.seg = Segment(lanes=2, state_size=8, ring_size=4096, hb_interval=10**7, hb_timeout=10**8)
                primary = self.seg.start(READY_AND_SLEEP)
                until(lambda: self.seg.u32(self.seg.lane(0) + L.L_READY) == L.READY_YES, "primary ready")
                spare = self.seg.start(prelude + "import understudy\nw = understudy.attach()\nw.ready()\nw.wait_active()\n"
                                       "print('active', w.epoch, flush=True)\n", lane=1, epoch="spare")
                lane1 = self.seg.lane(1)
                until(lambda: self.seg.u32(self.seg.robust_word(0, 2)) & L.FUTEX_WAITERS, "spare parked")
                loops = self.seg.u32(lane1 + L.L_PARK_LOOPS)
                until(lambda: self.seg.u32(lane1 + L.L_PARK_LOOPS) >= loops + 3, "three looks without a wake")
                self.assertEqual(self.seg.control(), (0, 0))
                os.kill(primary.pid, signal.SIGKILL)
                self.assertEqual(spare.stdout.readline(), b"active 1\n")
                self.assertEqual(spare.wait(timeout=30), 0, spare.stderr.read())
                primary.wait()

    def test_promoted_by_the_supervisor(self):
        spare = self.seg.start("import understudy\nw = understudy.attach()\nw.ready()\nw.wait_active()\nprint('active', w.epoch, flush=True)\n",
                               lane=1, epoch="spare")
        lane1 = self.seg.lane(1)
        until(lambda: self.seg.u32(lane1 + L.L_PARK_LOOPS) > 0, "spare parked")
        self.seg.control(1, 1)
        self.seg.u32(lane1 + L.L_PARK, L.PARK_PROMOTED)
        import understudy._sys as s
        base = ctypes.addressof(ctypes.c_char.from_buffer(self.seg.mm))
        s.futex_wake(base + lane1 + L.L_PARK)
        del base
        self.assertEqual(spare.stdout.readline(), b"active 1\n")

    def test_lifeline_eof_kills_the_group(self):
        r, w = os.pipe()
        code = ("import subprocess, time, understudy\nw = understudy.attach()\nw.ready()\n"
                "c = subprocess.Popen(['sleep', '600'])\nprint(c.pid, flush=True)\ntime.sleep(600)\n")
        p = self.seg.start(code, env={L.ENV_LIFELINE_FD: str(r)}, pass_fds=(r,), start_new_session=True)
        os.close(r)
        child = int(p.stdout.readline())
        os.close(w)  # the supervisor is gone
        self.assertEqual(p.wait(timeout=30), -signal.SIGKILL)
        until(lambda: not os.path.exists("/proc/%d" % child) or _zombie(child), "the child killed")


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


if __name__ == "__main__":
    unittest.main()
