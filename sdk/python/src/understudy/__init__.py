"""Workers for the understudy supervisor, in Python.

A process that an understudy supervisor started with the SDK flag (a
procbridge.Spec with SDK set, or ``sdk: true`` in a spec file) attaches to
the shared-memory segment it was handed and speaks the worker protocol
(docs/protocol.md): it says when it is ready, beats, gives the early death
notice, parks as a hot spare, carries state over a failover and answers
commands.

    import understudy

    with understudy.attach() as w:
        w.ready()
        while True:
            do_some_work()
            w.beat()

Pure Python: mmap for the segment, and the futex, futex_waitv,
set_robust_list and timerfd system calls through ctypes.
"""

from ._layout import VERSION as LAYOUT_VERSION
from ._worker import (
    AttachError,
    Fenced,
    NoRing,
    NoState,
    NotAWorker,
    RingFull,
    Worker,
    attach,
)

__all__ = [
    "LAYOUT_VERSION",
    "AttachError",
    "Fenced",
    "NoRing",
    "NoState",
    "NotAWorker",
    "RingFull",
    "Worker",
    "attach",
]

__version__ = "0.1.0"
