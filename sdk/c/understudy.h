/*
 * understudy.h: the C SDK of an understudy worker (layout version 1).
 *
 * A worker started by an understudy supervisor (procbridge, `understudy
 * run`) with `sdk: true` attaches to the shared-memory segment it was
 * handed, says when it is ready, beats from its work loop, parks as a hot
 * spare, commits state, and answers commands on the rings. docs/protocol.md
 * is the protocol this file implements.
 *
 * C11, libc and pthreads only: build it into the program,
 *
 *     cc -std=c11 -O2 -pthread -o worker worker.c understudy.c
 *
 * (Linked -static, where the C library has a static archive, a small
 * worker may start on as little as half the CPU: for a program this small
 * the dynamic loader is about half of the way from exec to us_ready.)
 *
 * Every call that can fail returns 0 (or a length) on success and a negative
 * code on failure: one of the US_E* codes below, or a negated errno value
 * from a system call. us_strerror names either.
 *
 * Threads: us_attach starts one thread of the SDK's own, with every signal
 * blocked, for the life of the process: it holds the robust list that gives
 * the supervisor the early death notice, and watches the lifeline, killing
 * the worker's process group when the supervisor is gone. The other calls may be
 * made from any one thread of the program at a time (the loop that does the
 * work); us_active and us_lane from any thread.
 */
#ifndef UNDERSTUDY_H
#define UNDERSTUDY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The segment layout version this SDK speaks. */
#define US_LAYOUT_VERSION 1

/* The exit status of a worker that refuses its segment (EX_CONFIG): the
 * supervisor believes the verdict us_attach wrote only of a worker that
 * exits so. */
#define US_EXIT_REFUSED 78

/* Error codes (negative, below any negated errno value). */
enum {
	US_ENOTWORKER = -1001, /* no UNDERSTUDY_SEGMENT_FD: not started by a supervisor */
	US_EBADENV = -1002,    /* an UNDERSTUDY_* variable holds no usable value */
	US_EBADMAGIC = -1003,  /* the segment's magic is wrong (verdict written) */
	US_EBADVERSION = -1004, /* a layout version this SDK does not speak (verdict written) */
	US_EBADSIZE = -1005,   /* sizes or offsets out of rule (verdict written) */
	US_EBADLANE = -1006,   /* UNDERSTUDY_LANE is not a lane of the segment (verdict written) */
	US_EFENCED = -1007,    /* another process is the primary now: stop */
	US_ENOSTATE = -1008,   /* nothing committed yet, or the segment has no state region */
	US_ETOOLARGE = -1009,  /* larger than the state slot, the ring, or the buffer */
	US_ENORING = -1010,    /* the segment has no command rings */
	US_EFULL = -1011,      /* the ring has no room for the reply now */
	US_ETIMEDOUT = -1012,  /* no message within the timeout */
	US_ETRUNC = -1013,     /* a message longer than the buffer: cut to it, and consumed */
	US_ECORRUPT = -1014,   /* a ring or state slot holds values that cannot be right */
	US_ETORN = -1015,      /* the state kept changing while it was read */
	US_ENOTATTACHED = -1016, /* a call before us_attach succeeded */
	US_ECANCELED = -1017     /* us_cancel_wait ended the wait */
};

/* A worker's handle on its segment: one per process. */
typedef struct us_worker us_worker;

/*
 * us_attach maps the segment handed down in UNDERSTUDY_SEGMENT_FD, checks
 * its header (magic, version, sizes, offsets, lane), stores the pid, arms
 * the death notice and the watchdog, marks the inherited descriptors
 * close-on-exec and starts watching the lifeline. It sets *w and returns 0,
 * or returns a negative code. When it refuses the segment (US_EBADMAGIC,
 * US_EBADVERSION, US_EBADSIZE, US_EBADLANE) it has written the verdict into
 * the header: print the error and exit with US_EXIT_REFUSED. Called again,
 * it returns the same handle.
 */
int us_attach(us_worker **w);

/* us_ready tells the supervisor the worker is warm (its start returns).
 * Calling it again does nothing. */
void us_ready(us_worker *w);

/* us_beat records a heartbeat: call it from the loop that does the work.
 * Two atomic stores and a clock read, and now and then a system call that
 * moves the supervisor's watchdog. */
void us_beat(us_worker *w);

/* us_heartbeat_interval_ns is how often the supervisor expects a beat
 * (0: never). */
int64_t us_heartbeat_interval_ns(const us_worker *w);

/* us_lane is the worker's lane: 0 for a process of its own; in a
 * hot-standby group, one lane per member. */
int us_lane(const us_worker *w);

/* us_active reports (1 or 0) whether this process is the primary. */
int us_active(const us_worker *w);

/*
 * us_wait_active parks a spare until it is the primary, and returns 0 at
 * once for a primary. Call it after us_ready. A parked spare sleeps on
 * futexes, using next to no CPU, until the supervisor promotes it or the
 * kernel wakes it because the primary died (then it promotes itself). It
 * also looks again every 100 ms on its own: on some virtual machines a
 * process that slept longer wakes slowly (docs/protocol.md). Once
 * promoted it adopts the state its predecessor committed, committing it
 * again under its own epoch, and beats. While parked its thread is raised
 * to SCHED_FIFO 1 where the process may have it (else a short slice), so
 * that it runs the moment it is woken; it gets its scheduling back a
 * millisecond after the promotion, at a later us_beat or us_commit.
 * Woken more than 64 times in a second (another process of the segment
 * can write and wake its words), it sleeps 1 ms before each further look
 * in that second (docs/protocol.md).
 */
int us_wait_active(us_worker *w);

/*
 * us_wait_active_for is us_wait_active for at most timeout_ns (< 0: for
 * ever): US_ETIMEDOUT when it passed first. A wait that ends unpromoted
 * (timeout, cancel) gives the thread its scheduling back at once.
 */
int us_wait_active_for(us_worker *w, int64_t timeout_ns);

/*
 * us_cancel_wait ends a us_wait_active(_for) in progress with US_ECANCELED,
 * or, when none is, the next one at once; a promotion that came first
 * wins. It may be called from any thread and from a signal handler (an
 * atomic store and a futex wake). The lifeline needs none of this: when
 * the supervisor is gone the worker's whole process group is killed.
 */
void us_cancel_wait(us_worker *w);

/* us_state_size is the size of the state slot (0: no state region). */
size_t us_state_size(const us_worker *w);

/* us_commit publishes len bytes as this worker's latest state, atomically:
 * a reader sees this commit or the previous one. US_EFENCED when this
 * process is no longer the primary. No system call, no allocation. */
int us_commit(us_worker *w, const void *data, size_t len);

/* us_state copies the latest committed state into buf (cap bytes, the
 * state size at most) and returns its length, US_ENOSTATE when nothing was
 * committed. */
long us_state(us_worker *w, void *buf, size_t cap);

/* us_ring_max is the largest message the rings carry (0: no rings). */
size_t us_ring_max(const us_worker *w);

/*
 * us_recv waits for the next command from the supervisor and copies it into
 * buf; it returns its length. timeout_ns < 0 waits for ever, 0 does not
 * wait; US_ETIMEDOUT when none came in time. A message longer than cap is
 * cut to cap bytes and leaves the ring all the same: US_ETRUNC. A corrupt
 * ring (the primary's doing) reads as empty until the supervisor empties it.
 */
long us_recv(us_worker *w, void *buf, size_t cap, int64_t timeout_ns);

/* us_reply sends a message to the supervisor. It never blocks: US_EFULL
 * when the ring has no room now, US_EFENCED when not the primary. */
int us_reply(us_worker *w, const void *msg, size_t len);

/* us_disarm clears the death notice, so that the process's end is not
 * taken for a crash. us_exit calls it for status 0. */
void us_disarm(us_worker *w);

/* us_exit ends the process with exit(status): status 0 first disarms the
 * death notice (a clean end), anything else is a failure. */
void us_exit(us_worker *w, int status);

/* us_strerror names a code this SDK returned (a US_E* code or a negated
 * errno value). */
const char *us_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* UNDERSTUDY_H */
