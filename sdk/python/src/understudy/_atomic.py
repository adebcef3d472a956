"""Atomic access to words of shared memory, by address.

Every shared word of the segment is read and written atomically, with
sequentially consistent order, as the protocol asks. Python has no atomics
of its own, so the operations come from one of two places:

- ``libatomic`` (GCC's atomic library, Debian's ``libatomic1``), called
  through ctypes: portable, and present wherever GCC or many other
  packages are;
- failing that, on x86-64, a few instructions of machine code placed in an
  executable page of this process (``lock cmpxchg``, ``xchg``,
  ``lock xadd``): the same instructions a C compiler emits for these
  operations.

The environment variable ``UNDERSTUDY_ATOMICS`` (``libatomic`` or
``inline``) chooses one; by default the first that works is used.
``BACKEND`` says which.

The calls go through ``ctypes.PyDLL``-style functions that keep the GIL:
an atomic operation never blocks, and releasing the GIL around it would
cost more than the operation.
"""

import ctypes
import ctypes.util
import mmap
import os

from . import _sys

SEQ_CST = 5


class _LibAtomic:
    name = "libatomic"

    def __init__(self):
        path = ctypes.util.find_library("atomic") or "libatomic.so.1"
        lib = ctypes.PyDLL(path)
        u32, u64, vp, i = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_int

        def fn(name, res, *args):
            f = getattr(lib, name)
            f.restype = res
            f.argtypes = list(args)
            return f

        self._load4 = fn("__atomic_load_4", u32, vp, i)
        self._load8 = fn("__atomic_load_8", u64, vp, i)
        self._store4 = fn("__atomic_store_4", None, vp, u32, i)
        self._store8 = fn("__atomic_store_8", None, vp, u64, i)
        self._cas4 = fn("__atomic_compare_exchange_4", ctypes.c_bool, vp, vp, u32, i, i)
        self._cas8 = fn("__atomic_compare_exchange_8", ctypes.c_bool, vp, vp, u64, i, i)
        self._add8 = fn("__atomic_fetch_add_8", u64, vp, u64, i)
        self._or4 = fn("__atomic_fetch_or_4", u32, vp, u32, i)
        self._exp4 = ctypes.c_uint32()
        self._exp8 = ctypes.c_uint64()
        self._exp4_addr = ctypes.addressof(self._exp4)
        self._exp8_addr = ctypes.addressof(self._exp8)

    def load32(self, addr):
        return self._load4(addr, SEQ_CST)

    def load64(self, addr):
        return self._load8(addr, SEQ_CST)

    def store32(self, addr, v):
        self._store4(addr, v, SEQ_CST)

    def store64(self, addr, v):
        self._store8(addr, v, SEQ_CST)

    def cas32(self, addr, old, new):
        # The expected value lives in a scratch word: the GIL is held
        # throughout, so no other thread of this process uses it meanwhile.
        self._exp4.value = old
        return self._cas4(addr, self._exp4_addr, new, SEQ_CST, SEQ_CST)

    def cas64(self, addr, old, new):
        self._exp8.value = old
        return self._cas8(addr, self._exp8_addr, new, SEQ_CST, SEQ_CST)

    def add64(self, addr, v):
        return self._add8(addr, v, SEQ_CST)

    def or32(self, addr, bits):
        return self._or4(addr, bits, SEQ_CST)


# x86-64 machine code, System V calling convention: rdi, rsi, rdx in; rax out.
_X86_64 = {
    # mov eax, [rdi]; ret
    "load32": (bytes.fromhex("8b07c3"), ctypes.c_uint32, [ctypes.c_void_p]),
    # mov rax, [rdi]; ret
    "load64": (bytes.fromhex("488b07c3"), ctypes.c_uint64, [ctypes.c_void_p]),
    # xchg [rdi], esi; ret   (xchg with memory is locked: a full barrier)
    "store32": (bytes.fromhex("8737c3"), None, [ctypes.c_void_p, ctypes.c_uint32]),
    # xchg [rdi], rsi; ret
    "store64": (bytes.fromhex("488737c3"), None, [ctypes.c_void_p, ctypes.c_uint64]),
    # mov eax, esi; lock cmpxchg [rdi], edx; ret   -> the old value
    "cas32": (bytes.fromhex("89f0f00fb117c3"), ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32]),
    # mov rax, rsi; lock cmpxchg [rdi], rdx; ret
    "cas64": (bytes.fromhex("4889f0f0480fb117c3"), ctypes.c_uint64, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64]),
    # mov rax, rsi; lock xadd [rdi], rax; ret      -> the old value
    "add64": (bytes.fromhex("4889f0f0480fc107c3"), ctypes.c_uint64, [ctypes.c_void_p, ctypes.c_uint64]),
    # mov eax, [rdi]; 1: mov ecx, eax; or ecx, esi; lock cmpxchg [rdi], ecx; jne 1b; ret
    "or32": (bytes.fromhex("8b0789c109f1f00fb10f75f6c3"), ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_uint32]),
}


class _Inline:
    name = "inline"

    def __init__(self):
        if _sys.MACHINE != "x86_64":
            raise OSError("no inline atomics for %s" % _sys.MACHINE)
        page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        self._page = page
        base = ctypes.addressof(ctypes.c_char.from_buffer(page))
        off = 0
        for name, (code, res, args) in _X86_64.items():
            page[off:off + len(code)] = code
            proto = ctypes.PYFUNCTYPE(res, *args)
            setattr(self, "_" + name, proto(base + off))
            off += (len(code) + 15) & ~15
        self.load32 = self._load32
        self.load64 = self._load64
        self.store32 = self._store32
        self.store64 = self._store64
        self.add64 = self._add64
        self.or32 = self._or32

    def cas32(self, addr, old, new):
        return self._cas32(addr, old, new) == old

    def cas64(self, addr, old, new):
        return self._cas64(addr, old, new) == old


def _choose():
    want = os.environ.get("UNDERSTUDY_ATOMICS", "")
    kinds = {"libatomic": _LibAtomic, "inline": _Inline}
    if want:
        if want not in kinds:
            raise ImportError("understudy: UNDERSTUDY_ATOMICS = %r: want libatomic or inline" % want)
        return kinds[want]()
    errors = []
    for kind in (_LibAtomic, _Inline):
        try:
            return kind()
        except (OSError, AttributeError, ValueError) as e:
            errors.append("%s: %s" % (kind.name, e))
    raise ImportError("understudy: no atomic operations on this machine (%s)" % "; ".join(errors))


_impl = _choose()
BACKEND = _impl.name
load32 = _impl.load32
load64 = _impl.load64
store32 = _impl.store32
store64 = _impl.store64
cas32 = _impl.cas32
cas64 = _impl.cas64
add64 = _impl.add64
or32 = _impl.or32
