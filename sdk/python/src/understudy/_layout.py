"""Layout version 1 of the shared-memory segment (docs/protocol.md).

Pure arithmetic over the header's bytes: no system call, no shared state,
so it can be tested on any buffer.
"""

import struct

VERSION = 1
MAGIC = 0x5944545352444E55  # "UNDRSTDY", little-endian
HEADER_SIZE = 256
LANE_SIZE = 512
LINE = 64
MAX_LANES = 15
ROBUST_WORDS = 16
MAX_STATE_SIZE = 1 << 30
MAX_RING_SIZE = 1 << 26
MAX_EPOCH = 1 << 55

# Header offsets.
H_MAGIC = 0
H_VERSION = 8
H_HEADER_SIZE = 12
H_TOTAL_SIZE = 16
H_ATTACH_VERDICT = 24
H_LANES = 28
H_LANE_SIZE = 32
H_STATE_SIZE = 36
H_RING_SIZE = 40
H_FLAGS = 44
H_HB_INTERVAL = 48
H_LANES_OFF = 56
H_STATE_OFF = 64
H_RINGS_OFF = 72
H_HB_TIMEOUT = 80
H_CONTROL = 128

# Lane offsets.
L_HEARTBEAT = 0
L_LAST_BEAT = 8
L_MARK = 16
L_READY = 64
L_PID = 68
L_ROBUST_TID = 80
L_PARK_LOOPS = 84
L_PARK = 128
L_ROBUST = 192

READY_NO, READY_YES, READY_ABORTED = 0, 1, 2
PARK_WAITING, PARK_PROMOTED = 0, 1
PARK_RELEASED = 2  # a worker's own value: give up parking

FUTEX_WAITERS = 0x80000000
FUTEX_OWNER_DIED = 0x40000000
FUTEX_TID_MASK = 0x3FFFFFFF

# Attach verdicts, and the exit status of a worker that refuses its segment.
ATTACH_OK, ATTACH_BAD_MAGIC, ATTACH_BAD_VERSION, ATTACH_BAD_SIZE, ATTACH_BAD_LANE = range(5)
ATTACH_EXIT_STATUS = 78
VERDICTS = {
    ATTACH_OK: "ok",
    ATTACH_BAD_MAGIC: "bad magic",
    ATTACH_BAD_VERSION: "layout version mismatch",
    ATTACH_BAD_SIZE: "bad size",
    ATTACH_BAD_LANE: "bad lane",
}

# State region.
S_SEQUENCE = 0
S_SLOT_HEADER = 64
S_SLOT_SEQ = 0
S_SLOT_EPOCH = 8
S_SLOT_LEN = 16

# Rings.
TO_WORKER, FROM_WORKER = 0, 1
RING_HEADER = 192
R_HEAD = 0
R_TAIL = 64
R_WAITERS = 128
MESSAGE_HEADER = 8

# Descriptors and environment.
FD_SEGMENT, FD_LIFELINE, FD_SENTINEL = 3, 4, 5
ENV_SEGMENT_FD = "UNDERSTUDY_SEGMENT_FD"
ENV_LANE = "UNDERSTUDY_LANE"
ENV_LIFELINE_FD = "UNDERSTUDY_LIFELINE_FD"
ENV_SENTINEL_FD = "UNDERSTUDY_SENTINEL_FD"
ENV_WATCHDOG_FD = "UNDERSTUDY_WATCHDOG_FD"
ENV_EPOCH = "UNDERSTUDY_EPOCH"
ENV_WORKER = "UNDERSTUDY_WORKER"


def roundup(n, to):
    return (n + to - 1) // to * to


def lane_state_size(state_size):
    return LINE + 2 * (S_SLOT_HEADER + roundup(state_size, LINE))


class LayoutError(ValueError):
    """A header that does not describe a segment of this layout. verdict is
    the attach verdict a worker writes before it refuses the segment."""

    def __init__(self, verdict, message):
        super().__init__(message)
        self.verdict = verdict


class Layout:
    """Where every region of a segment lies, derived from its sizes."""

    __slots__ = ("lanes", "state_size", "ring_size", "hb_interval", "hb_timeout",
                 "lanes_off", "state_off", "rings_off", "total")

    def __init__(self, lanes, state_size=0, ring_size=0, hb_interval=0, hb_timeout=0):
        if not 1 <= lanes <= MAX_LANES:
            raise LayoutError(ATTACH_BAD_SIZE, "lanes = %d, want 1..%d" % (lanes, MAX_LANES))
        if not 0 <= state_size <= MAX_STATE_SIZE:
            raise LayoutError(ATTACH_BAD_SIZE, "state size = %d, want 0..%d" % (state_size, MAX_STATE_SIZE))
        if not 0 <= ring_size <= MAX_RING_SIZE or ring_size & (ring_size - 1):
            raise LayoutError(ATTACH_BAD_SIZE, "ring size = %d, want 0 or a power of two up to %d" % (ring_size, MAX_RING_SIZE))
        if hb_interval < 0 or hb_timeout < 0:
            raise LayoutError(ATTACH_BAD_SIZE, "heartbeat interval = %d ns, timeout = %d ns" % (hb_interval, hb_timeout))
        self.lanes = lanes
        self.state_size = state_size
        self.ring_size = ring_size
        self.hb_interval = hb_interval
        self.hb_timeout = hb_timeout
        self.lanes_off = HEADER_SIZE
        self.state_off = self.lanes_off + lanes * LANE_SIZE
        self.rings_off = self.state_off + (lanes * lane_state_size(state_size) if state_size else 0)
        ring_bytes = 2 * (RING_HEADER + ring_size) if ring_size else 0
        self.total = roundup(self.rings_off + ring_bytes, 4096)

    def header(self):
        """The header a supervisor writes for this layout (magic included)."""
        h = bytearray(HEADER_SIZE)
        struct.pack_into("<QIIQ", h, 0, MAGIC, VERSION, HEADER_SIZE, self.total)
        struct.pack_into("<IIIII", h, H_LANES, self.lanes, LANE_SIZE, self.state_size, self.ring_size, 0)
        struct.pack_into("<qQQQq", h, H_HB_INTERVAL, self.hb_interval, self.lanes_off,
                         self.state_off, self.rings_off, self.hb_timeout)
        return bytes(h)

    def lane(self, i):
        return self.lanes_off + i * LANE_SIZE

    def state_region(self, i):
        return self.state_off + i * lane_state_size(self.state_size)

    def slot(self, lane, n):
        return self.state_region(lane) + LINE + (n % 2) * (S_SLOT_HEADER + roundup(self.state_size, LINE))

    def ring(self, i):
        return self.rings_off + i * (RING_HEADER + self.ring_size)


def parse_header(mem, size):
    """Checks the header at the start of mem (a mapping of size bytes) and
    returns its Layout, or raises LayoutError with the verdict to write."""
    if size < HEADER_SIZE:
        raise LayoutError(ATTACH_BAD_SIZE, "mapping of %d bytes is smaller than the %d-byte header" % (size, HEADER_SIZE))
    magic, version, header_size, total = struct.unpack_from("<QIIQ", mem, 0)
    if magic != MAGIC:
        raise LayoutError(ATTACH_BAD_MAGIC, "magic = %#x, want %#x" % (magic, MAGIC))
    if version != VERSION:
        raise LayoutError(ATTACH_BAD_VERSION, "layout version = %d, this package speaks %d" % (version, VERSION))
    if header_size != HEADER_SIZE:
        raise LayoutError(ATTACH_BAD_SIZE, "header size = %d, want %d" % (header_size, HEADER_SIZE))
    lanes, lane_size, state_size, ring_size, _flags = struct.unpack_from("<IIIII", mem, H_LANES)
    if lane_size != LANE_SIZE:
        raise LayoutError(ATTACH_BAD_SIZE, "lane size = %d, want %d" % (lane_size, LANE_SIZE))
    hb_interval, lanes_off, state_off, rings_off, hb_timeout = struct.unpack_from("<qQQQq", mem, H_HB_INTERVAL)
    l = Layout(lanes, state_size, ring_size, hb_interval, hb_timeout)
    got = (lanes_off, state_off, rings_off, total)
    want = (l.lanes_off, l.state_off, l.rings_off, l.total)
    if got != want:
        raise LayoutError(ATTACH_BAD_SIZE, "offsets and total %s, want %s" % (got, want))
    if total != size:
        raise LayoutError(ATTACH_BAD_SIZE, "total size = %d, mapping is %d bytes" % (total, size))
    return l


def hang_window(interval):
    return min(max(interval // 4, 250_000), 2_000_000)


def watchdog_lead(interval, timeout):
    """How long before a beat's deadline the watchdog expires (ns)."""
    return max(min(3 * hang_window(interval), (timeout - interval) // 2), 0)
