"""A stand-in for the supervisor's side of a segment, for the package's
own tests: it lays out a segment in a memfd as procbridge does, starts
Python processes on it, and reads and writes its words. (The shared
scenario suite in sdk/ runs the real supervisor.)"""

import mmap
import os
import shlex
import struct
import subprocess
import sys
import time

import understudy
from understudy import _layout as L

# Where the package under test was imported from: its workers import the same.
PKG = os.path.dirname(os.path.dirname(os.path.abspath(understudy.__file__)))

# The command that runs the workers' Python: this interpreter, or
# UNDERSTUDY_TEST_INTERPRETER, split as a shell would (another machine's
# interpreter under qemu-user, which runs only the process it started:
# "qemu-aarch64-static -L ROOT ROOT/usr/bin/python3.11").
PYTHON = shlex.split(os.environ.get("UNDERSTUDY_TEST_INTERPRETER", "")) or [sys.executable]


def robust_lists():
    """Whether the kernel keeps robust futex lists here, asked of a
    throwaway process: qemu-user answers set_robust_list with ENOSYS, and
    then no worker gives the early death notice."""
    code = ("import ctypes\nfrom understudy import _sys\nh = (ctypes.c_uint64 * 3)()\n"
            "h[0] = ctypes.addressof(h)\nh[1] = 8\nprint(_sys.set_robust_list(ctypes.addressof(h), 24))\n")
    r = subprocess.run(PYTHON + ["-c", code], env=dict(os.environ, PYTHONPATH=PKG), capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("the robust list probe failed: " + r.stderr)
    return r.stdout.strip() == "0"


class Segment:
    def __init__(self, lanes=1, state_size=0, ring_size=0, hb_interval=0, hb_timeout=0):
        self.layout = L.Layout(lanes, state_size, ring_size, hb_interval, hb_timeout)
        self.fd = os.memfd_create("understudy-test", 0)
        os.ftruncate(self.fd, self.layout.total)
        self.mm = mmap.mmap(self.fd, self.layout.total, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.mm[:L.HEADER_SIZE] = self.layout.header()
        self.procs = []

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        self.mm.close()
        os.close(self.fd)

    def u32(self, off, v=None):
        if v is None:
            return struct.unpack_from("<I", self.mm, off)[0]
        struct.pack_into("<I", self.mm, off, v)

    def u64(self, off, v=None):
        if v is None:
            return struct.unpack_from("<Q", self.mm, off)[0]
        struct.pack_into("<Q", self.mm, off, v)

    def lane(self, i):
        return self.layout.lane(i)

    def control(self, epoch=None, lane=None):
        if epoch is None:
            c = self.u64(L.H_CONTROL)
            return c >> 8, c & 0xFF
        self.u64(L.H_CONTROL, epoch << 8 | lane)

    def robust_word(self, lane, i):
        return self.lane(lane) + L.L_ROBUST + 16 * i + 8

    def start(self, code, lane=0, epoch="0", env=None, pass_fds=(), extra=None, **kw):
        """Runs code (Python source) in a new process attached to lane."""
        e = dict(os.environ)
        e.update({
            "PYTHONPATH": PKG + os.pathsep + e.get("PYTHONPATH", ""),
            L.ENV_SEGMENT_FD: str(self.fd),
            L.ENV_LANE: str(lane),
        })
        if epoch is not None:
            e[L.ENV_EPOCH] = epoch
        e.update(env or {})
        for k in [k for k, v in e.items() if v is None]:
            del e[k]
        p = subprocess.Popen(PYTHON + ["-c", code], env=e, pass_fds=(self.fd,) + tuple(pass_fds),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
        self.procs.append(p)
        return p

    # The supervisor's end of the rings.
    def send(self, msg):
        off = self.layout.ring(L.TO_WORKER)
        size = self.layout.ring_size
        head, tail = self.u64(off + L.R_HEAD), self.u64(off + L.R_TAIL)
        need = L.MESSAGE_HEADER + L.roundup(len(msg), 8)
        assert size - (tail - head) >= need, "ring full"
        rec = struct.pack("<II", len(msg), 0) + msg + bytes(L.roundup(len(msg), 8) - len(msg))
        data = off + L.RING_HEADER
        for k, b in enumerate(rec):
            self.mm[data + (tail + k) % size] = b
        self.u64(off + L.R_TAIL, tail + need)
        if self.u32(off + L.R_WAITERS):
            self.u32(off + L.R_WAITERS, 0)
            from understudy import _sys
            import ctypes
            _sys.futex_wake(ctypes.addressof(ctypes.c_char.from_buffer(self.mm)) + off + L.R_WAITERS)

    def recv(self):
        off = self.layout.ring(L.FROM_WORKER)
        size = self.layout.ring_size
        head, tail = self.u64(off + L.R_HEAD), self.u64(off + L.R_TAIL)
        if head == tail:
            return None
        data = off + L.RING_HEADER
        raw = bytes(self.mm[data + (head + k) % size] for k in range(tail - head))
        (n,) = struct.unpack_from("<I", raw)
        self.u64(off + L.R_HEAD, head + L.MESSAGE_HEADER + L.roundup(n, 8))
        return raw[8:8 + n]


def until(cond, what, timeout=60.0):
    """Waits for cond() to be true, polling, at most timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.002)
