"""The Python scenario worker of the shared SDK scenario suite (sdk/).

It attaches to the segment it was handed and runs the scenario named by
UNDERSTUDY_SCENARIO, exactly as every SDK's scenario worker does:

  beat         ready; then forever: beat, sleep 1 ms
  hang         ready; beat 10 times 1 ms apart; then sleep without beating
  never-ready  attached, never ready; sleeps forever
  counter      ready, wait-active, read the state (8 bytes LE, 0 when
               empty), print "start <n>"; then forever: n++, commit, beat,
               sleep 1 ms; fenced: print "fenced <n>", exit 3
  echo         ready; forever: receive (a beat interval at most, 10 ms
               without one, beating between), reply "echo:" + the
               message, cut to the ring's largest message
  child        ready; start "sleep 600" in the worker's own process group,
               print "child <pid>", beat forever
  give-up      ready; a primary prints "active"; a spare waits to be
               active 100 ms at most and prints "timeout", then waits
               until another thread cancels the wait 100 ms later and
               prints "cancelled"; then sleeps forever

An unknown scenario: a message on stderr, exit 2.
"""

import os
import struct
import subprocess
import sys
import threading
import time

import understudy


def sleep_forever():
    while True:
        time.sleep(3600)


def beat_forever(w):
    while True:
        w.beat()
        time.sleep(0.001)


def counter(w):
    w.ready()  # a spare is ready when parked
    w.wait_active()
    try:
        (n,) = struct.unpack("<Q", w.state()[:8].ljust(8, b"\0"))
    except understudy.NoState:
        n = 0
    print("start %d" % n, flush=True)
    while True:
        n += 1
        try:
            w.commit(struct.pack("<Q", n))
        except understudy.Fenced:
            print("fenced %d" % n, flush=True)
            os._exit(3)
        w.beat()
        time.sleep(0.001)


def give_up(w):
    w.ready()
    if w.active:
        print("active", flush=True)
        sleep_forever()
    if w.wait_active(timeout=0.1):
        print("scenario worker: promoted in a wait of 100 ms", file=sys.stderr)
        sys.exit(1)
    print("timeout", flush=True)
    t = threading.Timer(0.1, w.cancel_wait)
    t.start()
    if w.wait_active():
        print("scenario worker: promoted in a cancelled wait", file=sys.stderr)
        sys.exit(1)
    t.join()
    print("cancelled", flush=True)
    sleep_forever()


def echo(w):
    w.ready()
    interval = w.heartbeat_interval or 0.01
    while True:
        msg = w.recv(timeout=interval)
        w.beat()
        if msg is not None:
            w.reply((b"echo:" + msg)[:w.ring_size])


def child(w):
    w.ready()
    # It stays in this process group; attach took the protocol's
    # variables out of the environment it inherits.
    p = subprocess.Popen(["sleep", "600"])
    print("child %d" % p.pid, flush=True)
    beat_forever(w)


# UNDERSTUDY_SCENARIO_HEAP_MB=N (benchmarks): hold N MB of Python objects,
# every page written, so that the process has that much to tear down.
_heap = []


def main():
    mb = int(os.environ.get("UNDERSTUDY_SCENARIO_HEAP_MB") or 0)
    _heap.extend(bytes([i & 0xFF]) * 4096 for i in range(mb * 256))
    scenario = os.environ.get("UNDERSTUDY_SCENARIO", "")
    known = ("beat", "hang", "never-ready", "counter", "echo", "child", "give-up")
    if scenario not in known:
        print("scenario worker: unknown scenario %r (want one of %s)" % (scenario, ", ".join(known)), file=sys.stderr)
        sys.exit(2)
    try:
        w = understudy.attach()  # a segment it must refuse: exits 78
    except understudy.AttachError as e:
        print(e, file=sys.stderr)
        sys.exit(78)
    with w:
        if scenario == "beat":
            w.ready()
            beat_forever(w)
        elif scenario == "hang":
            w.ready()
            for _ in range(10):
                w.beat()
                time.sleep(0.001)
            sleep_forever()
        elif scenario == "never-ready":
            sleep_forever()
        elif scenario == "counter":
            counter(w)
        elif scenario == "echo":
            echo(w)
        elif scenario == "child":
            child(w)
        elif scenario == "give-up":
            give_up(w)


if __name__ == "__main__":
    main()
