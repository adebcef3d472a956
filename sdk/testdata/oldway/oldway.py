"""The design the project grew from, for benchmarks: a Python supervisor
of multiprocessing workers that notices a death through the worker's
sentinel and wakes a pre-warmed standby through a multiprocessing Event.

    python3 oldway.py MODE HEAP_MB

MODE is poll (sleep 2 ms, then look at the sentinel without waiting: the
"2 ms sentinel poll" the old figures were measured with) or wait
(multiprocessing.connection.wait on the sentinel with a 2 ms timeout, the
old code as written). It keeps a primary and a standby, and for each
line read on stdin SIGKILLs the primary, notices it, activates the
standby, starts a new standby and prints "<noticed> <active>": ns from
just before the kill to the supervisor noticing, and to the standby's
first instruction after its activation (CLOCK_MONOTONIC in every process).
"""

import multiprocessing as mp
import os
import signal
import sys
import time
from multiprocessing.connection import wait

PAUSE = 0.002  # let everyone park before the kill


def audio_worker(activate, stamp, ready, heap_mb):
    heap = [bytes([i & 0xFF]) * 4096 for i in range(heap_mb * 256)]
    ready.set()
    activate.wait()  # the standby: pre-warmed, waiting
    stamp.value = time.monotonic_ns()  # its first instruction once active
    while True:
        time.sleep(0.001)  # the work, and a heartbeat in the old design
    del heap


class Member:
    def __init__(self, heap_mb):
        self.activate = mp.Event()
        self.ready = mp.Event()
        self.stamp = mp.Value("Q", 0, lock=False)
        self.proc = mp.Process(target=audio_worker, args=(self.activate, self.stamp, self.ready, heap_mb), daemon=True)
        self.proc.start()
        self.ready.wait()


def main():
    mode, heap_mb = sys.argv[1], int(sys.argv[2])
    if mode not in ("poll", "wait"):
        print("oldway.py: MODE = %r: want poll or wait" % mode, file=sys.stderr)
        sys.exit(2)
    primary = Member(heap_mb)
    primary.activate.set()
    standby = Member(heap_mb)
    print("ready", flush=True)
    for _ in sys.stdin:
        time.sleep(PAUSE)
        t0 = time.monotonic_ns()
        os.kill(primary.proc.pid, signal.SIGKILL)
        sentinels = [primary.proc.sentinel]
        while True:
            if mode == "poll":
                time.sleep(0.002)
                if wait(sentinels, timeout=0):
                    break
            elif wait(sentinels, timeout=0.002):
                break
        noticed = time.monotonic_ns()
        standby.activate.set()  # instant failover
        while standby.stamp.value == 0:
            time.sleep(0.0001)
        active = standby.stamp.value
        primary.proc.join()
        primary, standby = standby, Member(heap_mb)  # a new standby
        print(noticed - t0, active - t0, flush=True)


if __name__ == "__main__":
    main()
