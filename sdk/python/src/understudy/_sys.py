"""The system calls the package needs, through ctypes and the C library.

Nothing here is compiled: the C library's own ``syscall`` function reaches
the calls Python's standard library does not offer (futex, futex_waitv,
set_robust_list, timerfd_settime), and ``pthread_create`` starts the one
thread the Python runtime must not share.
"""

import ctypes
import ctypes.util
import errno
import mmap
import os
import platform
import time

# System call numbers, by machine.
_NUMBERS = {
    "x86_64": {"futex": 202, "set_robust_list": 273, "timerfd_settime": 286, "futex_waitv": 449,
               "sched_setattr": 314, "sched_getattr": 315},
    "aarch64": {"futex": 98, "set_robust_list": 99, "timerfd_settime": 86, "futex_waitv": 449,
                "sched_setattr": 274, "sched_getattr": 275},
}

MACHINE = platform.machine()
if MACHINE == "amd64":
    MACHINE = "x86_64"
if MACHINE == "arm64":
    MACHINE = "aarch64"

try:
    NR = _NUMBERS[MACHINE]
except KeyError:
    raise ImportError("understudy: machine %r is not supported (x86_64 and aarch64 are)" % MACHINE) from None

libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

_syscall = libc.syscall
_syscall.restype = ctypes.c_long

FUTEX_WAIT = 0
FUTEX_WAKE = 1
FUTEX2_SIZE_U32 = 0x02
TFD_TIMER_ABSTIME = 1
WAKE_ALL = 1 << 30


class timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", timespec), ("it_value", timespec)]


class futex_waitv(ctypes.Structure):
    _fields_ = [
        ("val", ctypes.c_uint64),
        ("uaddr", ctypes.c_uint64),
        ("flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
    ]


def _call(name, *args):
    """Runs system call name; returns its result or -errno."""
    r = _syscall(ctypes.c_long(NR[name]), *args)
    if r == -1:
        return -ctypes.get_errno()
    return r


def futex_wake(addr, n=WAKE_ALL):
    """Wakes up to n waiters on the shared futex word at addr."""
    return _call("futex", ctypes.c_void_p(addr), ctypes.c_int(FUTEX_WAKE), ctypes.c_int(n),
                 ctypes.c_void_p(0), ctypes.c_void_p(0), ctypes.c_int(0))


def futex_wait(addr, val, timeout_ns=None):
    """Sleeps while the word at addr holds val, at most timeout_ns.

    Returns 0 when woken, or -errno (EAGAIN: the word no longer held val,
    ETIMEDOUT, EINTR)."""
    ts = None
    if timeout_ns is not None:
        timeout_ns = max(0, int(timeout_ns))
        ts = timespec(timeout_ns // 1_000_000_000, timeout_ns % 1_000_000_000)
    return _call("futex", ctypes.c_void_p(addr), ctypes.c_int(FUTEX_WAIT), ctypes.c_uint32(val),
                 ctypes.byref(ts) if ts is not None else ctypes.c_void_p(0),
                 ctypes.c_void_p(0), ctypes.c_int(0))


_waitv_missing = False


CLOCK_MONOTONIC = 1


def futex_wait_either(a, av, b, bv, until=None):
    """Sleeps until either word changes from its value (futex_waitv, Linux
    5.16+), at most until the CLOCK_MONOTONIC time until (ns); without
    futex_waitv, on the first word alone."""
    global _waitv_missing
    if not _waitv_missing:
        ws = waitv_pair(a, av, b, bv)
        ts = None if until is None else timespec(until // 1_000_000_000, until % 1_000_000_000)
        r = _call("futex_waitv", ws, ctypes.c_uint(2), ctypes.c_uint(0),
                  ctypes.byref(ts) if ts is not None else ctypes.c_void_p(0), ctypes.c_int(CLOCK_MONOTONIC))
        if r not in (-errno.ENOSYS, -errno.EINVAL):
            return r
        _waitv_missing = True
    left = None
    if until is not None:
        left = until - time.monotonic_ns()
        if left <= 0:
            return -errno.ETIMEDOUT
    return futex_wait(a, av, left)


# A parked spare's wait and promotion in one foreign call, on x86-64: the
# futex_waitv system call on its park word and on its robust word in the
# primary's lane, until an absolute CLOCK_MONOTONIC time (or for ever),
# then, if the kernel marked that robust word (the primary's robust thread
# died), the promotion's compare-and-swap on the control word, before any
# Python runs again. Arguments (System V): rdi the two futex_waitv
# entries, rsi the robust word, rdx the control word, rcx the control word
# expected, r8 the one to write, r9 the timespec to wait until (or NULL).
# It returns futex_waitv's result (-errno, or the index of the word that
# woke it), WAIT_PROMOTED when the swap was made, WAIT_LOST when another
# process swapped first.
#
#   push rdx; push rcx; push r8; push rsi; mov r10, r9
#   mov eax, 449; mov esi, 2; xor edx, edx; mov r8d, 1 (CLOCK_MONOTONIC)
#   syscall
#   pop r9; pop r8; pop r10; pop rdx
#   test rax, rax; js 1f
#   mov ecx, [r9]; test ecx, 0x40000000; jz 1f
#   mov rax, r10; lock cmpxchg [rdx], r8; jne 2f
#   mov eax, 0x100; ret
#   2: mov eax, 0x101
#   1: ret
_WAIT_PROMOTE_X86_64 = bytes.fromhex(
    "52514150564d89cab8c1010000be0200000031d241b8010000000f0541594158415a5a"
    "4885c07820418b09f7c10000004074154c89d0f04c0fb1027506b800010000c3b801010000c3")
WAIT_PROMOTED = 0x100
WAIT_LOST = 0x101
_wait_promote = []  # [function or None, its page], made once


def wait_promote():
    """The function above, or None where it cannot be had (another machine,
    no executable mapping, no futex_waitv): then the caller waits with
    futex_wait_either and swaps in Python."""
    if not _wait_promote:
        fn, page = None, None
        if MACHINE == "x86_64" and not _waitv_missing:
            try:
                page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
                page[:len(_WAIT_PROMOTE_X86_64)] = _WAIT_PROMOTE_X86_64
                proto = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p)
                fn = proto(ctypes.addressof(ctypes.c_char.from_buffer(page)))
            except (OSError, ValueError):
                fn, page = None, None
        _wait_promote[:] = [fn, page]
    return _wait_promote[0]


def waitv_pair(a, av, b, bv):
    """The two futex_waitv entries for words a and b holding av and bv."""
    return (futex_waitv * 2)(futex_waitv(av, a, FUTEX2_SIZE_U32, 0), futex_waitv(bv, b, FUTEX2_SIZE_U32, 0))


def waitv_missing():
    """Records that the kernel has no futex_waitv."""
    global _waitv_missing
    _waitv_missing = True
    _wait_promote[:] = [None, None]


def set_robust_list(head_addr, size):
    """Registers the calling thread's robust futex list."""
    return _call("set_robust_list", ctypes.c_void_p(head_addr), ctypes.c_size_t(size))


def timerfd_settime_abs(fd, at_ns):
    """Sets the timerfd fd to expire once at CLOCK_MONOTONIC time at_ns."""
    spec = itimerspec(timespec(0, 0), timespec(at_ns // 1_000_000_000, at_ns % 1_000_000_000))
    return _call("timerfd_settime", ctypes.c_int(fd), ctypes.c_int(TFD_TIMER_ABSTIME),
                 ctypes.byref(spec), ctypes.c_void_p(0))


class sched_attr(ctypes.Structure):
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("policy", ctypes.c_uint32),
        ("flags", ctypes.c_uint64),
        ("nice", ctypes.c_int32),
        ("priority", ctypes.c_uint32),
        ("runtime", ctypes.c_uint64),
        ("deadline", ctypes.c_uint64),
        ("period", ctypes.c_uint64),
    ]


SCHED_NORMAL = 0
SCHED_FIFO = 1
SCHED_FLAG_RESET_ON_FORK = 0x01


def sched_getattr(tid):
    """Thread tid's scheduling attributes, or None."""
    a = sched_attr()
    r = _call("sched_getattr", ctypes.c_int(tid), ctypes.byref(a), ctypes.c_uint(ctypes.sizeof(a)), ctypes.c_uint(0))
    return a if r == 0 else None


def sched_setattr(tid, a):
    """Sets thread tid's scheduling attributes; returns 0 or -errno."""
    a.size = ctypes.sizeof(a)
    return _call("sched_setattr", ctypes.c_int(tid), ctypes.byref(a), ctypes.c_uint(0))


# pthread_create, for the robust-list thread.
_pthread_create = libc.pthread_create
_pthread_create.argtypes = [ctypes.POINTER(ctypes.c_ulong), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
_pthread_create.restype = ctypes.c_int

THREAD_START = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


def pthread_create(start):
    """Starts an OS thread of the C library's own running start, a
    THREAD_START; returns 0 or an errno value."""
    tid = ctypes.c_ulong()
    return _pthread_create(ctypes.byref(tid), None, ctypes.cast(start, ctypes.c_void_p), None)


_pause = libc.pause
_pause.restype = ctypes.c_int
_pause.argtypes = []


def pause_forever():
    """Blocks the calling thread in the kernel for the life of the process,
    without the GIL (a ctypes call releases it). The thread blocks every
    signal first, so pause never returns; the loop is for certainty."""
    while True:
        _pause()
