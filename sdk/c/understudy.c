/*
 * understudy.c: the C SDK of an understudy worker. See understudy.h, and
 * docs/protocol.md for every word of the segment.
 */
#define _GNU_SOURCE
#include "understudy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef SCHED_FLAG_RESET_ON_FORK
#define SCHED_FLAG_RESET_ON_FORK 0x01
#endif

/* The layout, version 1 (docs/protocol.md, "Constants"). */
#define MAGIC UINT64_C(0x5944545352444e55)
#define HEADER_SIZE 256
#define H_MAGIC 0
#define H_VERSION 8
#define H_HEADER_SIZE 12
#define H_TOTAL 16
#define H_VERDICT 24
#define H_LANES 28
#define H_LANE_SIZE 32
#define H_STATE_SIZE 36
#define H_RING_SIZE 40
#define H_HB_INTERVAL 48
#define H_LANES_OFF 56
#define H_STATE_OFF 64
#define H_RINGS_OFF 72
#define H_HB_TIMEOUT 80
#define H_CONTROL 128

#define LANE_SIZE 512
#define L_HEARTBEAT 0
#define L_LAST_BEAT 8
#define L_MARK 16
#define L_READY 64
#define L_PID 68
#define L_ROBUST_TID 80
#define L_PARK_LOOPS 84
#define L_PARK 128
#define L_ROBUST 192

#define LINE 64
#define MAX_LANES 15
#define ROBUST_WORDS 16
#define MAX_STATE_SIZE (UINT64_C(1) << 30)
#define MAX_RING_SIZE (UINT64_C(1) << 26)
#define MAX_EPOCH (UINT64_C(1) << 55)

#define READY_NO 0
#define READY_YES 1
#define PARK_WAITING 0
#define PARK_PROMOTED 1
#define PARK_RELEASED 2 /* this SDK's own: a cancelled wait (us_cancel_wait) */

#define F_WAITERS UINT32_C(0x80000000)
#define F_OWNER_DIED UINT32_C(0x40000000)
#define F_TID_MASK UINT32_C(0x3fffffff)

#define VERDICT_BAD_MAGIC 1
#define VERDICT_BAD_VERSION 2
#define VERDICT_BAD_SIZE 3
#define VERDICT_BAD_LANE 4

#define SLOT_HEADER 64
#define SLOT_SEQ 0
#define SLOT_EPOCH 8
#define SLOT_LEN 16

#define RING_HEADER 192
#define RING_HEAD 0
#define RING_TAIL 64
#define RING_WAITERS 128
#define MSG_HEADER 8

#define SPARE_EPOCH UINT64_MAX /* the epoch a spare holds: none a control word can */

#define ENV_SEGMENT_FD "UNDERSTUDY_SEGMENT_FD"
#define ENV_LANE "UNDERSTUDY_LANE"
#define ENV_LIFELINE_FD "UNDERSTUDY_LIFELINE_FD"
#define ENV_SENTINEL_FD "UNDERSTUDY_SENTINEL_FD"
#define ENV_WATCHDOG_FD "UNDERSTUDY_WATCHDOG_FD"
#define ENV_EPOCH "UNDERSTUDY_EPOCH"

struct us_worker {
	uint8_t *mem;
	size_t size;
	uint32_t lanes, state_size, ring_size;
	int64_t hb_interval, hb_timeout;
	uint64_t lanes_off, state_off, rings_off;
	int lane;
	uint8_t *lp; /* this lane */
	_Atomic uint64_t epoch;

	int dog_fd; /* the watchdog timerfd, or -1 */
	int64_t dog_after, dog_gap, dog_armed;

	int lifeline_fd;
	atomic_int robust_armed;
	int robust_err;
	atomic_int robust_done; /* a futex: 1 once the robust thread has said */

	uint8_t *state_buf; /* for adopting state */

	/* A parked spare's raised thread, restored after a grace. */
	pid_t raised_tid;
	int64_t raised_until;
	int raised_policy, raised_prio, raised_nice;

	atomic_int cancel; /* 1: us_cancel_wait was called, no wait has ended on it yet */
};

static us_worker the_worker;
static atomic_int attached; /* 0 no, 1 attached */

/* The kernel's struct robust_list_head, in the process's private memory
 * for the life of the process. */
static struct {
	uint64_t next;
	int64_t futex_offset;
	uint64_t pending;
} robust_head;

/* ---- shared words: every access atomic, sequentially consistent ---- */

static inline _Atomic uint32_t *a32(uint8_t *p) { return (_Atomic uint32_t *)(void *)p; }
static inline _Atomic uint64_t *a64(uint8_t *p) { return (_Atomic uint64_t *)(void *)p; }
static inline uint32_t ld32(uint8_t *p) { return atomic_load(a32(p)); }
static inline uint64_t ld64(uint8_t *p) { return atomic_load(a64(p)); }
static inline void st32(uint8_t *p, uint32_t v) { atomic_store(a32(p), v); }
static inline void st64(uint8_t *p, uint64_t v) { atomic_store(a64(p), v); }
static inline int cas32(uint8_t *p, uint32_t old, uint32_t v) { return atomic_compare_exchange_strong(a32(p), &old, v); }
static inline int cas64(uint8_t *p, uint64_t old, uint64_t v) { return atomic_compare_exchange_strong(a64(p), &old, v); }

/* Plain reads of the header, which the supervisor writes once before any
 * worker maps the segment (the attach verdict aside). */
static uint64_t hdr64(const uint8_t *mem, size_t off)
{
	uint64_t v;
	memcpy(&v, mem + off, 8);
	return v;
}
static uint32_t hdr32(const uint8_t *mem, size_t off)
{
	uint32_t v;
	memcpy(&v, mem + off, 4);
	return v;
}

static int64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec ns_to_ts(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
	return ts;
}

/* Shared futexes: never FUTEX_PRIVATE_FLAG, the words are in a MAP_SHARED
 * mapping several processes see. */
static void futex_wake(uint8_t *word) { syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); }

/* futex_wait sleeps while *word == val, at most timeout_ns when >= 0. */
static void futex_wait(uint8_t *word, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns >= 0) {
		ts = ns_to_ts(timeout_ns);
		tp = &ts;
	}
	syscall(SYS_futex, word, FUTEX_WAIT, val, tp, NULL, 0);
}

/* The kernel's struct futex_waitv (Linux 5.16+). */
struct waitv {
	uint64_t val;
	uint64_t uaddr;
	uint32_t flags;
	uint32_t reserved;
};
#define FUTEX2_SIZE_U32 0x02

static atomic_int waitv_missing;

/* futex_wait_either sleeps until either word is woken or no longer holds
 * its value, or until CLOCK_MONOTONIC time until_ns (-1: no limit);
 * without futex_waitv, on a alone. */
static void futex_wait_either(uint8_t *a, uint32_t av, uint8_t *b, uint32_t bv, int64_t until_ns)
{
	if (!atomic_load(&waitv_missing)) {
		struct waitv ws[2] = {
			{.val = av, .uaddr = (uint64_t)(uintptr_t)a, .flags = FUTEX2_SIZE_U32},
			{.val = bv, .uaddr = (uint64_t)(uintptr_t)b, .flags = FUTEX2_SIZE_U32},
		};
		struct timespec at, *ap = NULL;
		if (until_ns >= 0) {
			at = ns_to_ts(until_ns);
			ap = &at;
		}
		if (syscall(SYS_futex_waitv, ws, 2, 0, ap, CLOCK_MONOTONIC) >= 0 || (errno != ENOSYS && errno != EINVAL))
			return;
		atomic_store(&waitv_missing, 1);
	}
	int64_t left = until_ns < 0 ? -1 : until_ns - mono_now();
	futex_wait(a, av, until_ns < 0 ? -1 : left > 0 ? left : 0);
}

/* ---- layout ---- */

static uint64_t round_up(uint64_t n, uint64_t to) { return (n + to - 1) / to * to; }

static uint64_t lane_state_size(uint64_t state_size) { return LINE + 2 * (SLOT_HEADER + round_up(state_size, LINE)); }

static uint8_t *lane_at(const us_worker *w, uint64_t i) { return w->mem + w->lanes_off + i * LANE_SIZE; }
static uint8_t *robust_word(uint8_t *lane, int i) { return lane + L_ROBUST + 16 * i + 8; }
static uint8_t *robust_entry(uint8_t *lane, int i) { return lane + L_ROBUST + 16 * i; }

/* check_header returns 0 or the verdict for the header in mem (size bytes). */
static int check_header(const uint8_t *mem, size_t size, us_worker *w)
{
	if (hdr64(mem, H_MAGIC) != MAGIC)
		return VERDICT_BAD_MAGIC;
	if (hdr32(mem, H_VERSION) != US_LAYOUT_VERSION)
		return VERDICT_BAD_VERSION;
	if (hdr32(mem, H_HEADER_SIZE) != HEADER_SIZE || hdr32(mem, H_LANE_SIZE) != LANE_SIZE)
		return VERDICT_BAD_SIZE;
	uint64_t lanes = hdr32(mem, H_LANES), ss = hdr32(mem, H_STATE_SIZE), rs = hdr32(mem, H_RING_SIZE);
	int64_t ivl = (int64_t)hdr64(mem, H_HB_INTERVAL), timeout = (int64_t)hdr64(mem, H_HB_TIMEOUT);
	if (lanes < 1 || lanes > MAX_LANES || ss > MAX_STATE_SIZE || rs > MAX_RING_SIZE || (rs & (rs - 1)) != 0)
		return VERDICT_BAD_SIZE;
	if (ivl < 0 || timeout < 0)
		return VERDICT_BAD_SIZE;
	uint64_t lanes_off = HEADER_SIZE;
	uint64_t state_off = lanes_off + lanes * LANE_SIZE;
	uint64_t rings_off = state_off + (ss > 0 ? lanes * lane_state_size(ss) : 0);
	uint64_t ring_bytes = rs > 0 ? 2 * (RING_HEADER + rs) : 0;
	uint64_t total = round_up(rings_off + ring_bytes, 4096);
	if (hdr64(mem, H_LANES_OFF) != lanes_off || hdr64(mem, H_STATE_OFF) != state_off ||
	    hdr64(mem, H_RINGS_OFF) != rings_off || hdr64(mem, H_TOTAL) != total || total != size)
		return VERDICT_BAD_SIZE;
	w->lanes = (uint32_t)lanes;
	w->state_size = (uint32_t)ss;
	w->ring_size = (uint32_t)rs;
	w->hb_interval = ivl;
	w->hb_timeout = timeout;
	w->lanes_off = lanes_off;
	w->state_off = state_off;
	w->rings_off = rings_off;
	return 0;
}

static int verdict_error(int verdict)
{
	switch (verdict) {
	case VERDICT_BAD_MAGIC:
		return US_EBADMAGIC;
	case VERDICT_BAD_VERSION:
		return US_EBADVERSION;
	case VERDICT_BAD_LANE:
		return US_EBADLANE;
	}
	return US_EBADSIZE;
}

/* env_fd reads a descriptor number: 1 and *fd, 0 when unset, or
 * US_EBADENV (a number below 3 is refused). */
static int env_fd(const char *key, int *fd)
{
	const char *s = getenv(key);
	if (s == NULL || *s == '\0')
		return 0;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 3 || v > (1 << 20))
		return US_EBADENV;
	*fd = (int)v;
	return 1;
}

static int valid_fd(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static void cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);
	if (flags >= 0)
		fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

/* ---- the SDK's thread: the death notice, then the lifeline ---- */

/* The SDK runs one thread of its own, with every signal blocked, for the
 * life of the process. It holds the robust list that gives the supervisor
 * the early death notice (so it must never exit before the process does,
 * and never take a robust mutex), and then watches the lifeline: a read
 * that returns only when the supervisor is gone, when it kills the
 * worker's process group. One thread rather than one for each: a thread's
 * start (its stack, its first page faults, a clone) is a large share of a
 * small worker's start. */

static void arm_robust(us_worker *w)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	/* The kernel wakes the words' waiters in list order: the spares' words
	 * (1 to 15) first, the supervisor's (word 0) last. */
	int order[ROBUST_WORDS];
	for (int i = 1; i < ROBUST_WORDS; i++)
		order[i - 1] = i;
	order[ROBUST_WORDS - 1] = 0;
	uint64_t next = (uint64_t)(uintptr_t)&robust_head;
	for (int k = ROBUST_WORDS - 1; k >= 0; k--) {
		int i = order[k];
		st32(robust_word(w->lp, i), (uint32_t)tid);
		st64(robust_entry(w->lp, i), next);
		next = (uint64_t)(uintptr_t)robust_entry(w->lp, i);
	}
	robust_head.next = next;
	robust_head.futex_offset = 8;
	robust_head.pending = 0;
	if (syscall(SYS_set_robust_list, &robust_head, sizeof robust_head) != 0) {
		w->robust_err = -errno;
	} else {
		st32(w->lp + L_ROBUST_TID, (uint32_t)tid);
		atomic_store(&w->robust_armed, 1);
	}
	atomic_store(&w->robust_done, 1);
	syscall(SYS_futex, &w->robust_done, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* watch_lifeline returns when fd reads EOF (or cannot be read). */
static void watch_lifeline(int fd)
{
	char b;
	for (;;) {
		ssize_t n = read(fd, &b, 1);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			poll(&p, 1, -1);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* EOF, or a descriptor that cannot be read */
	}
}

static void *sdk_main(void *arg)
{
	us_worker *w = arg;
	arm_robust(w);
	if (w->lifeline_fd >= 0) {
		watch_lifeline(w->lifeline_fd);
		static const char msg[] = "understudy worker: the supervisor is gone; exiting\n";
		ssize_t ignored = write(2, msg, sizeof msg - 1);
		(void)ignored;
		kill(0, SIGKILL); /* the whole group, as the supervisor would */
		_exit(1);
	}
	if (w->robust_err != 0)
		return NULL; /* nothing registered, nothing to watch: the supervisor's pidfd still tells */
	for (;;)
		pause(); /* for the life of the process */
	return NULL;
}

/* start_thread starts fn with every signal blocked. */
static int start_thread(void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t t;
	int err = pthread_create(&t, &attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return -err;
}

/* ---- attach ---- */

int us_attach(us_worker **out)
{
	if (atomic_load(&attached)) {
		*out = &the_worker;
		return 0;
	}
	us_worker *w = &the_worker;
	int segfd;
	int r = env_fd(ENV_SEGMENT_FD, &segfd);
	if (r == 0)
		return US_ENOTWORKER;
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(segfd, &st) != 0)
		return -errno;
	if (st.st_size < HEADER_SIZE || (uint64_t)st.st_size > (UINT64_C(1) << 40))
		return US_EBADSIZE;
	uint8_t *mem = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, segfd, 0);
	if (mem == MAP_FAILED)
		return -errno;
	w->mem = mem;
	w->size = (size_t)st.st_size;
	int verdict = check_header(mem, w->size, w);
	const char *ls = getenv(ENV_LANE);
	long lane = -1;
	if (verdict == 0) {
		char *end;
		errno = 0;
		lane = ls != NULL && *ls != '\0' ? strtol(ls, &end, 10) : -1;
		if (ls == NULL || *ls == '\0' || errno != 0 || *end != '\0' || lane < 0 || lane >= (long)w->lanes)
			verdict = VERDICT_BAD_LANE;
	}
	if (verdict != 0) {
		st32(mem + H_VERDICT, (uint32_t)verdict);
		munmap(mem, w->size);
		w->mem = NULL;
		return verdict_error(verdict);
	}
	w->lane = (int)lane;
	w->lp = lane_at(w, (uint64_t)lane);
	/* The first clock read of a process may fault the vDSO's clock pages
	 * in (tens of microseconds in a virtual machine): take it now, not
	 * when a promoted spare stamps its first instruction. */
	(void)mono_now();
	st32(w->lp + L_PID, (uint32_t)getpid());

	/* The role comes from the environment: the control word is any
	 * process's to write. */
	atomic_store(&w->epoch, SPARE_EPOCH);
	const char *es = getenv(ENV_EPOCH);
	if (es != NULL) {
		char *end;
		errno = 0;
		unsigned long long e = strtoull(es, &end, 10);
		if (*es != '\0' && errno == 0 && *end == '\0' && e < MAX_EPOCH)
			atomic_store(&w->epoch, (uint64_t)e);
	} else {
		uint64_t c = ld64(mem + H_CONTROL);
		if ((int)(c & 0xff) == w->lane)
			atomic_store(&w->epoch, c >> 8);
	}

	w->dog_fd = -1;
	int dfd;
	if (env_fd(ENV_WATCHDOG_FD, &dfd) == 1 && valid_fd(dfd)) {
		cloexec(dfd);
		int64_t ivl = w->hb_interval, timeout = w->hb_timeout;
		if (ivl > 0 && timeout > 0) {
			int64_t window = ivl / 4;
			if (window < 250000)
				window = 250000;
			if (window > 2000000)
				window = 2000000;
			int64_t lead = 3 * window;
			if ((timeout - ivl) / 2 < lead)
				lead = (timeout - ivl) / 2;
			if (lead < 0)
				lead = 0;
			int64_t gap = ivl / 2;
			if ((timeout - ivl - lead) / 2 > gap)
				gap = (timeout - ivl - lead) / 2;
			w->dog_fd = dfd;
			w->dog_after = timeout - lead;
			w->dog_gap = gap;
			w->dog_armed = INT64_MIN / 2;
		}
	}
	/* What we inherited must not reach programs this worker runs. */
	cloexec(segfd);
	int fd;
	if (env_fd(ENV_SENTINEL_FD, &fd) == 1)
		cloexec(fd);
	w->lifeline_fd = -1;
	if (env_fd(ENV_LIFELINE_FD, &fd) == 1) {
		cloexec(fd);
		w->lifeline_fd = fd;
	}
	if ((r = start_thread(sdk_main, w)) == 0) {
		while (!atomic_load(&w->robust_done))
			syscall(SYS_futex, &w->robust_done, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		r = w->robust_err;
	} else if (w->lifeline_fd >= 0) {
		fprintf(stderr, "understudy worker: no lifeline watch: %s\n", us_strerror(r));
	}
	if (r != 0)
		fprintf(stderr, "understudy worker: no early death notice: %s\n", us_strerror(r));
	atomic_store(&attached, 1);
	*out = w;
	return 0;
}

/* ---- ready, beat ---- */

void us_ready(us_worker *w)
{
	if (w == NULL || w->mem == NULL)
		return;
	if (cas32(w->lp + L_READY, READY_NO, READY_YES))
		futex_wake(w->lp + L_READY);
}

static void restore_raised(us_worker *w, int64_t now);

void us_beat(us_worker *w)
{
	if (w == NULL || w->mem == NULL)
		return;
	int64_t now = mono_now();
	st64(w->lp + L_LAST_BEAT, (uint64_t)now);
	atomic_fetch_add(a64(w->lp + L_HEARTBEAT), 1);
	if (w->dog_fd >= 0 && now - w->dog_armed >= w->dog_gap) {
		w->dog_armed = now;
		struct itimerspec its = {.it_value = ns_to_ts(now + w->dog_after)};
		timerfd_settime(w->dog_fd, TFD_TIMER_ABSTIME, &its, NULL);
	}
	if (w->raised_tid != 0)
		restore_raised(w, now);
}

int64_t us_heartbeat_interval_ns(const us_worker *w) { return w != NULL ? w->hb_interval : 0; }
int us_lane(const us_worker *w) { return w != NULL ? w->lane : -1; }
size_t us_state_size(const us_worker *w) { return w != NULL ? w->state_size : 0; }
size_t us_ring_max(const us_worker *w) { return w != NULL && w->ring_size > 0 ? w->ring_size - MSG_HEADER : 0; }

int us_active(const us_worker *w)
{
	if (w == NULL || w->mem == NULL)
		return 0;
	uint64_t c = ld64(w->mem + H_CONTROL);
	return (int)(c & 0xff) == w->lane && (c >> 8) == atomic_load(&((us_worker *)w)->epoch);
}

/* ---- state ---- */

static uint8_t *lane_state(const us_worker *w, uint64_t lane) { return w->mem + w->state_off + lane * lane_state_size(w->state_size); }

static uint8_t *slot_at(const us_worker *w, uint64_t lane, uint64_t seq)
{
	return lane_state(w, lane) + LINE + (seq % 2) * (SLOT_HEADER + round_up(w->state_size, LINE));
}

/* commit_lane writes data as commit seq+1 of this lane under epoch. */
static void commit_lane(us_worker *w, uint64_t epoch, const void *data, size_t len)
{
	uint8_t *seqw = lane_state(w, (uint64_t)w->lane);
	uint64_t next = ld64(seqw) + 1;
	uint8_t *slot = slot_at(w, (uint64_t)w->lane, next);
	st64(slot + SLOT_SEQ, 0); /* the slot is being written */
	atomic_thread_fence(memory_order_seq_cst);
	memcpy(slot + SLOT_HEADER, data, len);
	st64(slot + SLOT_EPOCH, epoch);
	st32(slot + SLOT_LEN, (uint32_t)len);
	st64(slot + SLOT_SEQ, next);
	st64(seqw, next);
}

int us_commit(us_worker *w, const void *data, size_t len)
{
	if (w == NULL || w->mem == NULL)
		return US_ENOTATTACHED;
	uint64_t c = ld64(w->mem + H_CONTROL), e = atomic_load(&w->epoch);
	if ((int)(c & 0xff) != w->lane || (c >> 8) != e)
		return US_EFENCED;
	if (w->state_size == 0)
		return US_ENOSTATE;
	if (len > w->state_size)
		return US_ETOOLARGE;
	commit_lane(w, e, data, len);
	if (w->raised_tid != 0)
		restore_raised(w, mono_now());
	return 0;
}

/* read_lane copies lane's latest commit: its length, or a negative code. */
static long read_lane(const us_worker *w, uint64_t lane, void *buf, size_t cap, uint64_t *epoch)
{
	uint8_t *seqw = lane_state(w, lane);
	int copies = 0;
	for (int try = 0; try < 64; try++) {
		uint64_t seq = ld64(seqw);
		if (seq == 0)
			return US_ENOSTATE;
		uint8_t *slot = slot_at(w, lane, seq);
		if (ld64(slot + SLOT_SEQ) != seq)
			continue; /* overwritten since: look again */
		uint64_t e = ld64(slot + SLOT_EPOCH);
		uint32_t len = ld32(slot + SLOT_LEN);
		if (len > w->state_size)
			return US_ECORRUPT;
		if (len > cap)
			return US_ETOOLARGE;
		if (++copies > 4)
			break;
		memcpy(buf, slot + SLOT_HEADER, len);
		if (!cas64(slot + SLOT_SEQ, seq, seq)) /* a full barrier: still commit seq? */
			continue;
		*epoch = e;
		return (long)len;
	}
	return US_ETORN;
}

/* slot_claim returns lane's sequence word and the epoch its latest slot
 * claims. */
static uint64_t slot_claim(const us_worker *w, uint64_t lane, uint64_t *epoch)
{
	uint64_t seq = ld64(lane_state(w, lane));
	*epoch = seq == 0 ? 0 : ld64(slot_at(w, lane, seq) + SLOT_EPOCH);
	return seq;
}

/* committed reads the commit that counts under epoch: primary's at exactly
 * epoch, else the highest epoch below it in any lane (on a tie, another
 * lane's before primary's own, then the higher sequence). *from is the lane
 * read, *from_epoch the epoch it claims. */
static long committed(const us_worker *w, void *buf, size_t cap, uint64_t epoch, int primary, int *from,
		      uint64_t *from_epoch)
{
	if (w->state_size == 0)
		return US_ENOSTATE;
	uint64_t claim, e;
	if (primary >= 0 && (uint32_t)primary < w->lanes) {
		slot_claim(w, (uint64_t)primary, &claim);
		if (ld64(lane_state(w, (uint64_t)primary)) != 0 && claim == epoch) {
			long n = read_lane(w, (uint64_t)primary, buf, cap, &e);
			if (n != US_ENOSTATE && (n < 0 || e == epoch)) {
				*from = primary;
				*from_epoch = e;
				return n;
			}
		}
	}
	int best = -1;
	uint64_t best_e = 0, best_s = 0;
	for (uint32_t i = 0; i < w->lanes; i++) {
		uint64_t sq = slot_claim(w, i, &claim);
		if (sq == 0 || claim >= epoch)
			continue;
		int other = (int)i != primary, best_other = best != primary;
		if (best < 0 || claim > best_e ||
		    (claim == best_e && (other != best_other ? other : sq > best_s))) {
			best = (int)i;
			best_e = claim;
			best_s = sq;
		}
	}
	if (best >= 0) {
		long n = read_lane(w, (uint64_t)best, buf, cap, &e);
		if (n != US_ENOSTATE && (n < 0 || e == best_e)) {
			*from = best;
			*from_epoch = e;
			return n;
		}
	}
	return US_ENOSTATE;
}

long us_state(us_worker *w, void *buf, size_t cap)
{
	if (w == NULL || w->mem == NULL)
		return US_ENOTATTACHED;
	uint64_t c = ld64(w->mem + H_CONTROL);
	int from;
	uint64_t from_epoch;
	return committed(w, buf, cap, c >> 8, (int)(c & 0xff), &from, &from_epoch);
}

/* ---- hot standby ---- */

/* The kernel's struct sched_attr. */
struct sched_attr_k {
	uint32_t size;
	uint32_t sched_policy;
	uint64_t sched_flags;
	int32_t sched_nice;
	uint32_t sched_priority;
	uint64_t sched_runtime;
	uint64_t sched_deadline;
	uint64_t sched_period;
};

#define SLICE_NS 100000 /* the short slice asked for when SCHED_FIFO is refused */

/* raise_self raises the calling thread so that it runs the moment it is
 * woken: SCHED_FIFO 1, else a short slice, keeping reset-on-fork. A thread
 * in a class of its own keeps it. */
static void raise_self(us_worker *w)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	struct sched_attr_k old = {.size = sizeof old};
	if (syscall(SYS_sched_getattr, tid, &old, sizeof old, 0) != 0 || old.sched_policy != SCHED_OTHER)
		return;
	struct sched_attr_k fifo = {.size = sizeof fifo, .sched_policy = SCHED_FIFO, .sched_priority = 1,
				    .sched_flags = SCHED_FLAG_RESET_ON_FORK};
	struct sched_attr_k slice = {.size = sizeof slice, .sched_policy = SCHED_OTHER, .sched_nice = old.sched_nice,
				     .sched_runtime = SLICE_NS, .sched_flags = SCHED_FLAG_RESET_ON_FORK};
	if (syscall(SYS_sched_setattr, tid, &fifo, 0) != 0 && syscall(SYS_sched_setattr, tid, &slice, 0) != 0)
		return;
	w->raised_tid = tid;
	w->raised_nice = old.sched_nice;
	w->raised_until = INT64_MAX;
}

/* restore_raised gives the raised thread its scheduling back once its
 * grace (a millisecond after a promotion) has passed. */
static void restore_raised(us_worker *w, int64_t now)
{
	if (now < w->raised_until)
		return;
	struct sched_attr_k def = {.size = sizeof def, .sched_policy = SCHED_OTHER, .sched_nice = w->raised_nice,
				   .sched_flags = SCHED_FLAG_RESET_ON_FORK};
	syscall(SYS_sched_setattr, w->raised_tid, &def, 0);
	w->raised_tid = 0;
}

/* adopt makes epoch this process's and carries the latest state over. */
static int adopt(us_worker *w, uint64_t epoch)
{
	atomic_store(&w->epoch, epoch);
	int64_t now = mono_now();
	st64(w->lp + L_MARK, (uint64_t)now); /* the instant of the promotion, for benchmarks */
	if (w->raised_tid != 0)
		w->raised_until = now + 1000000;
	us_beat(w); /* the new primary's heartbeat clock starts here */
	if (w->state_size == 0)
		return 0;
	if (w->state_buf == NULL && (w->state_buf = malloc(w->state_size)) == NULL)
		return -ENOMEM;
	int from;
	uint64_t from_epoch;
	long n = committed(w, w->state_buf, w->state_size, epoch, w->lane, &from, &from_epoch);
	if (n == US_ENOSTATE)
		return 0;
	if (n < 0)
		return (int)n;
	if (from == w->lane && from_epoch == epoch)
		return 0; /* ours already */
	commit_lane(w, epoch, w->state_buf, (size_t)n);
	return 0;
}

int us_wait_active(us_worker *w) { return us_wait_active_for(w, -1); }

void us_cancel_wait(us_worker *w)
{
	if (w == NULL || w->mem == NULL)
		return;
	int saved = errno; /* a signal handler may call it */
	uint8_t *park = w->lp + L_PARK;
	atomic_store(&w->cancel, 1);
	/* The word, not only the flag: a spare between its look and its sleep
	 * then finds the word changed and does not sleep. A promotion (1)
	 * stays: it wins. */
	cas32(park, PARK_WAITING, PARK_RELEASED);
	syscall(SYS_futex, park, FUTEX_WAKE, 1 << 30, NULL, NULL, 0);
	errno = saved;
}

/* end_wait ends a wait that was not a promotion: the park word back to
 * waiting if this SDK released it, the thread's scheduling back at once. */
static int end_wait(us_worker *w, int err)
{
	cas32(w->lp + L_PARK, PARK_RELEASED, PARK_WAITING);
	if (w->raised_tid != 0) {
		w->raised_until = 0;
		restore_raised(w, 0);
	}
	return err;
}

/* park_budget bounds how often a parked spare looks at its words. Every
 * process of the segment can write and wake them (the park word, the
 * control word, the primary's robust word for the lane): one that kept
 * doing so would have the spare, raised above ordinary tasks while it
 * parks, go round its loop as fast as it is woken. An honest segment wakes
 * a spare a few times per parking (its promotion, a stale wake), and the
 * spare looks on its own 10 times a second (PARK_REFRESH_NS); past
 * PARK_LOOKS looks in a second, the spare looks once a PARK_NAP_NS
 * (docs/protocol.md). */
struct park_budget {
	int looks;
	int64_t since; /* when the second being counted began */
};

enum { PARK_LOOKS = 64, PARK_NAP_NS = 1000000 };

/* PARK_REFRESH_NS is the longest a parked spare sleeps before it looks
 * again, so that no sleep lasts long enough to go cold. On a virtual
 * machine whose memory is paravirtualised, a process that slept for more
 * than a few hundred milliseconds pays, on its next return to user mode, a
 * cost that grows with its memory (measured: 0.1 ms after 0.2 s, 0.5 ms
 * after 1 s with an empty heap, 1.8 ms after 1 s with 256 MB): a spare
 * parked for long paid it as its takeover. The kernel's wake, as the
 * primary's robust thread dies, and the supervisor's still promote at once;
 * the 10 looks a second stay well within PARK_LOOKS. Each look costs about
 * 60 us of CPU there, 10 a second: 0.06 % of a CPU. */
#define PARK_REFRESH_NS 100000000

/* park_look counts a look, and naps first when the second's budget is
 * spent. */
static void park_look(struct park_budget *b)
{
	int64_t now = mono_now();
	if (now - b->since >= 1000000000) {
		b->since = now;
		b->looks = 0;
	}
	if (++b->looks > PARK_LOOKS) {
		struct timespec nap = {0, PARK_NAP_NS};
		nanosleep(&nap, NULL);
	}
}

int us_wait_active_for(us_worker *w, int64_t timeout_ns)
{
	if (w == NULL || w->mem == NULL)
		return US_ENOTATTACHED;
	int64_t until = timeout_ns < 0 ? -1 : mono_now() + timeout_ns;
	uint8_t *park = w->lp + L_PARK;
	uint64_t me = (uint64_t)w->lane;
	if (w->state_size > 0 && w->state_buf == NULL && atomic_load(&w->epoch) == SPARE_EPOCH) {
		/* A spare adopts the state the moment it is promoted: its
		 * buffer is allocated and touched before it parks. */
		if ((w->state_buf = malloc(w->state_size)) == NULL)
			return -ENOMEM;
		memset(w->state_buf, 0, w->state_size);
	}
	struct park_budget looks = {0, 0};
	for (;;) {
		park_look(&looks);
		uint64_t c = ld64(w->mem + H_CONTROL);
		uint64_t e = c >> 8, active = c & 0xff;
		if (active == me) {
			int err = adopt(w, e);
			cas32(park, PARK_RELEASED, PARK_WAITING);
			return err;
		}
		if (atomic_exchange(&w->cancel, 0))
			return end_wait(w, US_ECANCELED);
		int64_t left = -1;
		if (until >= 0 && (left = until - mono_now()) <= 0)
			return end_wait(w, US_ETIMEDOUT);
		uint32_t pv = ld32(park);
		if (active >= w->lanes || e + 1 >= MAX_EPOCH) {
			/* A control word no promotion leaves: the supervisor
			 * repairs it; wait for its wake, looking now and then. */
			atomic_fetch_add(a32(w->lp + L_PARK_LOOPS), 1);
			futex_wait(park, pv, left >= 0 && left < 1000000000 ? left : 1000000000);
			continue;
		}
		/* The primary's robust word for our lane: the kernel marks it
		 * when the primary's robust thread dies, and wakes us. */
		uint8_t *rw = robust_word(lane_at(w, active), 1 + (int)me);
		uint32_t rv = ld32(rw);
		if (rv & F_OWNER_DIED) {
			cas64(w->mem + H_CONTROL, c, (e + 1) << 8 | me); /* we, the supervisor or another spare: one wins */
			continue;
		}
		if ((rv & F_TID_MASK) != 0 && (rv & F_WAITERS) == 0) {
			if (!cas32(rw, rv, rv | F_WAITERS))
				continue;
			rv |= F_WAITERS;
		}
		if (pv == PARK_RELEASED) {
			/* Released by a cancel whose flag a wait has taken already. */
			cas32(park, pv, PARK_WAITING);
			continue;
		}
		if (pv == PARK_PROMOTED) {
			/* Promoted, but the word moved on since (or a stale
			 * wake): wait again. */
			cas32(park, pv, PARK_WAITING);
			continue;
		}
		atomic_fetch_add(a32(w->lp + L_PARK_LOOPS), 1);
		if (w->raised_tid == 0)
			raise_self(w);
		/* Sleep at most PARK_REFRESH_NS, then look again. */
		if ((rv & F_TID_MASK) != 0) {
			int64_t refresh = mono_now() + PARK_REFRESH_NS;
			futex_wait_either(park, PARK_WAITING, rw, rv, until >= 0 && until < refresh ? until : refresh);
		} else {
			futex_wait(park, PARK_WAITING, left >= 0 && left < PARK_REFRESH_NS ? left : PARK_REFRESH_NS);
		}
	}
}

/* ---- rings ---- */

static uint8_t *ring_at(const us_worker *w, int i) { return w->mem + w->rings_off + (uint64_t)i * (RING_HEADER + w->ring_size); }

static int ring_indices(const us_worker *w, uint8_t *r, uint64_t *head, uint64_t *tail)
{
	*head = ld64(r + RING_HEAD);
	*tail = ld64(r + RING_TAIL);
	if (*tail - *head > w->ring_size || *head % 8 != 0 || *tail % 8 != 0)
		return US_ECORRUPT;
	return 0;
}

static void ring_put(const us_worker *w, uint8_t *r, uint64_t at, const void *src, size_t n)
{
	const uint8_t *b = src;
	while (n > 0) {
		uint64_t i = at % w->ring_size;
		size_t k = w->ring_size - i < n ? (size_t)(w->ring_size - i) : n;
		memcpy(r + RING_HEADER + i, b, k);
		b += k;
		at += k;
		n -= k;
	}
}

static void ring_get(const us_worker *w, uint8_t *r, uint64_t at, void *dst, size_t n)
{
	uint8_t *b = dst;
	while (n > 0) {
		uint64_t i = at % w->ring_size;
		size_t k = w->ring_size - i < n ? (size_t)(w->ring_size - i) : n;
		memcpy(b, r + RING_HEADER + i, k);
		b += k;
		at += k;
		n -= k;
	}
}

/* ring_recv takes one message: its length, 0 with *empty set, or a code. */
/* ring_recv takes the next message of ring r. A corrupt ring (the
 * primary's doing) reads as empty: the supervisor empties it. */
static long ring_recv(const us_worker *w, uint8_t *r, void *buf, size_t cap, int *empty)
{
	uint64_t head, tail;
	*empty = 1;
	if (ring_indices(w, r, &head, &tail) != 0 || head == tail)
		return 0;
	uint32_t n;
	ring_get(w, r, head, &n, 4);
	uint64_t need = MSG_HEADER + round_up(n, 8);
	if (need > tail - head)
		return 0;
	*empty = 0;
	size_t take = n > cap ? cap : n;
	ring_get(w, r, head + MSG_HEADER, buf, take);
	st64(r + RING_HEAD, head + need);
	return n > cap ? US_ETRUNC : (long)n;
}

long us_recv(us_worker *w, void *buf, size_t cap, int64_t timeout_ns)
{
	if (w == NULL || w->mem == NULL)
		return US_ENOTATTACHED;
	if (w->ring_size == 0)
		return US_ENORING;
	uint8_t *r = ring_at(w, 0);
	int64_t deadline = timeout_ns < 0 ? INT64_MAX : mono_now() + timeout_ns;
	/* The waiters word is any process's to write: after a few waits that
	 * ended with the ring still empty, sleep instead, backing off. */
	int empties = 0;
	int64_t nap = 100000;
	for (;;) {
		int empty;
		long n = ring_recv(w, r, buf, cap, &empty);
		if (!empty)
			return n;
		int64_t now = mono_now(), left = deadline == INT64_MAX ? -1 : deadline - now;
		if (deadline != INT64_MAX && left <= 0)
			return US_ETIMEDOUT;
		if (empties >= 4) {
			int64_t d = left >= 0 && left < nap ? left : nap;
			struct timespec ts = ns_to_ts(d);
			nanosleep(&ts, NULL);
			nap = nap * 2 > 5000000 ? 5000000 : nap * 2;
			continue;
		}
		st32(r + RING_WAITERS, 1);
		uint64_t head, tail;
		if (ring_indices(w, r, &head, &tail) != 0) {
			empties++; /* corrupt: back off until the supervisor empties it */
		} else if (head == tail) {
			futex_wait(r + RING_WAITERS, 1, left);
			empties++;
		}
	}
}

int us_reply(us_worker *w, const void *msg, size_t len)
{
	if (w == NULL || w->mem == NULL)
		return US_ENOTATTACHED;
	if (w->ring_size == 0)
		return US_ENORING;
	if (!us_active(w))
		return US_EFENCED;
	uint64_t need = MSG_HEADER + round_up(len, 8);
	if (need > w->ring_size)
		return US_ETOOLARGE;
	uint8_t *r = ring_at(w, 1);
	uint64_t head, tail;
	if (ring_indices(w, r, &head, &tail) != 0)
		return US_ECORRUPT;
	if (w->ring_size - (tail - head) < need)
		return US_EFULL;
	uint8_t hdr[MSG_HEADER] = {0};
	uint32_t n = (uint32_t)len;
	memcpy(hdr, &n, 4);
	ring_put(w, r, tail, hdr, MSG_HEADER);
	ring_put(w, r, tail + MSG_HEADER, msg, len);
	st64(r + RING_TAIL, tail + need);
	if (ld32(r + RING_WAITERS) != 0) {
		st32(r + RING_WAITERS, 0);
		futex_wake(r + RING_WAITERS);
	}
	return 0;
}

/* ---- ending ---- */

void us_disarm(us_worker *w)
{
	if (w == NULL || w->mem == NULL || !atomic_load(&w->robust_armed))
		return;
	for (int i = 0; i < ROBUST_WORDS; i++) {
		st32(robust_word(w->lp, i), 0);
		futex_wake(robust_word(w->lp, i));
	}
}

void us_exit(us_worker *w, int status)
{
	if (status == 0)
		us_disarm(w);
	exit(status);
}

const char *us_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case US_ENOTWORKER:
		return "understudy: not started by an understudy supervisor (no " ENV_SEGMENT_FD ")";
	case US_EBADENV:
		return "understudy: an UNDERSTUDY_* descriptor variable is not a descriptor number (3 or above)";
	case US_EBADMAGIC:
		return "understudy: the segment refused: bad magic";
	case US_EBADVERSION:
		return "understudy: the segment refused: layout version mismatch";
	case US_EBADSIZE:
		return "understudy: the segment refused: sizes or offsets out of rule";
	case US_EBADLANE:
		return "understudy: the segment refused: " ENV_LANE " is not a lane of the segment";
	case US_EFENCED:
		return "understudy: fenced: another process is the primary now";
	case US_ENOSTATE:
		return "understudy: no state committed";
	case US_ETOOLARGE:
		return "understudy: larger than the state slot, the ring or the buffer";
	case US_ENORING:
		return "understudy: the segment has no command rings";
	case US_EFULL:
		return "understudy: ring full";
	case US_ETIMEDOUT:
		return "understudy: no message within the timeout";
	case US_ETRUNC:
		return "understudy: message cut to the buffer";
	case US_ECORRUPT:
		return "understudy: corrupt ring or state slot";
	case US_ETORN:
		return "understudy: state kept changing while read";
	case US_ENOTATTACHED:
		return "understudy: not attached";
	case US_ECANCELED:
		return "understudy: wait cancelled";
	}
	if (err < 0 && err > -4096)
		return strerror(-err);
	return "understudy: unknown error";
}
