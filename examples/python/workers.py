"""The workload of the design understudy grew from, as understudy workers:
a hot-standby worker keeping a running count in shared state, a pool of
audio workers, and a worker that hangs.

    python3 workers.py counter [MS]   count every MS ms (default 10);
                                           run with a spare: a spare takes
                                           over from the last count committed
    python3 workers.py pool           process a block every 10 ms, beating
    python3 workers.py hang [S]       beat for S seconds (default 2), then
                                           wait on a lock never released

Each must be started by an understudy supervisor with the SDK flag (the
Go program beside this file, or `understudy run tree.yaml`). The package
is sdk/python: installed (`pip install --no-index ./sdk/python`), or found
from this checkout when it is not.
"""

import os
import struct
import sys
import threading
import time

try:
    import understudy
except ImportError:  # not installed: the package in this checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sdk", "python", "src"))
    import understudy


def counter(w, period):
    w.ready()  # a spare is ready once warm, then parks
    w.wait_active()
    try:
        (n,) = struct.unpack("<Q", w.state())
    except understudy.NoState:
        n = 0
    print("lane %d is the primary (epoch %d), resuming from %d" % (w.lane, w.epoch, n), flush=True)
    while True:
        n += 1
        try:
            w.commit(struct.pack("<Q", n))
        except understudy.Fenced:
            print("lane %d: fenced at %d, another process counts now" % (w.lane, n), flush=True)
            return
        if n % 100 == 0:
            print("count %d" % n, flush=True)
        w.beat()
        time.sleep(period)


def pool(w):
    block = [0.0] * 256
    w.ready()
    phase = 0.0
    while True:
        # One block of "audio": a little arithmetic, then wait for the next.
        for i in range(len(block)):
            block[i] = (phase + i) % 1.0
        phase += 0.1
        w.beat()
        time.sleep(0.01)


def hang(w, seconds):
    w.ready()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        w.beat()
        time.sleep(0.01)
    print("hanging: waiting on a lock nobody releases", flush=True)
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()  # never returns: the heartbeat stops


def main():
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in ("counter", "pool", "hang"):
        print("usage: workers.py counter [MS] | pool | hang [S]", file=sys.stderr)
        sys.exit(2)
    with understudy.attach() as w:
        if role == "counter":
            counter(w, float(sys.argv[2] if len(sys.argv) > 2 else 10) / 1000)
        elif role == "pool":
            pool(w)
        else:
            hang(w, float(sys.argv[2] if len(sys.argv) > 2 else 2))


if __name__ == "__main__":
    main()
