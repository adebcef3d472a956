/*
 * understudy_node.c: a DSP node of an understudy audio engine, in C. See
 * understudy_node.h, and docs/node-protocol.md for every word it touches.
 */
#define _GNU_SOURCE
#include "understudy_node.h"
#include "understudy.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The bus, version 2 (docs/node-protocol.md, "Constants"). */
#define BUS_MAGIC UINT64_C(0x5355424455415355)
#define BUS_VERSION 2
#define BUS_LINE 64
#define BUS_H_MAGIC 0
#define BUS_H_VERSION 8
#define BUS_H_NODES 12
#define BUS_H_LANES 16
#define BUS_H_BLOCK_SIZE 20
#define BUS_H_TOTAL 24
#define BUS_H_HOSTS 32
#define BUS_H_STOP 64
#define BUS_H_DRIVER 128
#define BUS_H_CYCLE_BASE 132
#define BUS_HOST_HEADER 64
#define BUS_HOST_LANE 128
#define BUS_HOST_REQ 0
#define BUS_HOST_WAKE 8
#define BUS_HOST_WAKE_AT 16
#define BUS_HL_PROMOTED_AT 0
#define BUS_HL_ADOPTED 8
#define BUS_HL_PID 16
#define BUS_HL_STATE 20
#define BUS_HL_RECOVERED 24
#define BUS_HL_TID 28
#define BUS_HL_PRIORITY 32
#define BUS_HL_SETUP 36
#define BUS_NODE_HEADER 64
#define BUS_NODE_LANE 64
#define BUS_FAULT_CYCLE 0
#define BUS_FAULT_KIND 8
#define BUS_FAULT_POINT 12
#define BUS_FAULT_FIRED 16
#define BUS_FAULT_FIRED_AT 24
#define BUS_FAULT_SPIN 32
#define BUS_NL_DONE 0
#define BUS_NL_START_AT 8
#define BUS_NL_FINISH_AT 16

#define LANE_PARKED 1
#define LANE_ACTIVE 2
#define RECOVERED_NONE 0
#define RECOVERED_COMPUTE 1
#define RECOVERED_REUSE 2
#define RECOVERED_BETWEEN 3
#define PRIORITY_DENIED UINT32_C(0xffffffff)
#define SETUP_THREADS_RAISED 1
#define SETUP_MEMORY_LOCKED 2

#define FAULT_KILL 1
#define FAULT_HANG 2
#define FAULT_OVERRUN 3
#define FAULT_SEGV 4
#define POINT_BEFORE_COMPUTE 0
#define POINT_AFTER_OUTPUT 1
#define POINT_AFTER_COMMIT 2
#define POINT_AFTER_PUBLISH 3

/* The committed state: [0:8] the cycle it follows, [8:12] the lane whose
 * outputs hold that block, then the kernel's. */
#define STATE_HEADER 16
/* The bus is the first extra file. */
#define BUS_FD 6
#define MAX_FEEDS 64
#define MAX_SUCC 64
#define MAX_LANES 16

static const char *prog = "understudy node";

/* ---- little-endian state accessors ---- */

static uint64_t get_u64(const uint8_t *b)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	return v;
}

static void put_u64(uint8_t *b, uint64_t v)
{
	for (int i = 0; i < 8; i++, v >>= 8)
		b[i] = (uint8_t)v;
}

uint32_t usn_get_u32(const uint8_t *b) { return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24; }

void usn_put_u32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++, v >>= 8)
		b[i] = (uint8_t)v;
}

double usn_get_f64(const uint8_t *b)
{
	uint64_t u = get_u64(b);
	double v;
	memcpy(&v, &u, 8);
	return v;
}

void usn_put_f64(uint8_t *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, 8);
	put_u64(b, u);
}

float usn_get_f32(const uint8_t *b)
{
	uint32_t u = usn_get_u32(b);
	float v;
	memcpy(&v, &u, 4);
	return v;
}

void usn_put_f32(uint8_t *b, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	usn_put_u32(b, u);
}

/* ---- arguments: key=value words ---- */

/* arg returns the value of key in argv[2:], or NULL. */
static const char *arg(int argc, char **argv, const char *key)
{
	size_t n = strlen(key);
	for (int i = 2; i < argc; i++)
		if (strncmp(argv[i], key, n) == 0 && argv[i][n] == '=')
			return argv[i] + n + 1;
	return NULL;
}

/* arg_u64 parses key's value as a whole number in [0, max], or says why
 * not and returns -1. */
static int arg_u64(int argc, char **argv, const char *key, uint64_t max, uint64_t *v)
{
	const char *s = arg(argc, argv, key);
	if (s == NULL) {
		fprintf(stderr, "%s: argument %s: missing\n", prog, key);
		return -1;
	}
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || x > max) {
		fprintf(stderr, "%s: argument %s = \"%s\": want a whole number from 0 to %llu\n", prog, key, s,
			(unsigned long long)max);
		return -1;
	}
	*v = x;
	return 0;
}

/* params reads p.NAME=VALUE for every declared parameter: the engine sends
 * them all, checked, defaults filled in. */
static int params(const usn_kind *k, int argc, char **argv, double *p)
{
	char key[80];
	for (int i = 0; i < k->nparams; i++) {
		snprintf(key, sizeof key, "p.%s", k->params[i].name);
		const char *s = arg(argc, argv, key);
		char *end;
		if (s == NULL) {
			fprintf(stderr, "%s: parameter %s: missing\n", prog, k->params[i].name);
			return -1;
		}
		p[i] = strtod(s, &end);
		if (*s == '\0' || *end != '\0' || !isfinite(p[i])) {
			fprintf(stderr, "%s: parameter %s = \"%s\": want a finite number\n", prog, k->params[i].name, s);
			return -1;
		}
	}
	return 0;
}

/* build runs init for the rate and parameters in argv into a new self. */
static void *build(const usn_kind *k, int argc, char **argv, int *rate, const char **why, int *bad)
{
	uint64_t r;
	double p[USN_MAX_PARAMS];
	if (arg_u64(argc, argv, "rate", INT_MAX, &r) != 0 || r < 1 || params(k, argc, argv, p) != 0)
		return NULL;
	*rate = (int)r;
	void *self = calloc(1, k->self_size > 0 ? k->self_size : 1);
	if (self == NULL) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return NULL;
	}
	*why = k->init != NULL ? k->init(self, (int)r, p, bad) : NULL;
	return self;
}

/* ---- describe, check, offline ---- */

static int check_kind(const usn_kind *k)
{
	if (k->inputs < 0 || k->inputs > USN_MAX_PORTS || k->outputs < 0 || k->outputs > USN_MAX_PORTS ||
	    k->state_size > USN_MAX_STATE || k->nparams < 0 || k->nparams > USN_MAX_PARAMS || k->process == NULL ||
	    (k->nparams > 0 && k->params == NULL)) {
		fprintf(stderr, "%s: the kind's declaration is out of bounds: inputs %d, outputs %d (0..%d), state %zu (at most %d), "
				"%d params (0..%d), process %s\n",
			prog, k->inputs, k->outputs, USN_MAX_PORTS, k->state_size, USN_MAX_STATE, k->nparams, USN_MAX_PARAMS,
			k->process == NULL ? "missing" : "set");
		return -1;
	}
	return 0;
}

static int describe(const usn_kind *k)
{
	printf("understudy-node %d\n", USN_PROTOCOL_VERSION);
	printf("inputs %d\noutputs %d\nstate %zu\n", k->inputs, k->outputs, k->state_size);
	for (int i = 0; i < k->nparams; i++) {
		const usn_param *p = &k->params[i];
		printf("param %s %.17g %.17g %.17g %d %d\n", p->name, p->min, p->max, p->def, p->required != 0,
			p->integer != 0);
	}
	printf("end\n");
	return fflush(stdout) == 0 ? 0 : 1;
}

static int check(const usn_kind *k, int argc, char **argv)
{
	int rate, bad = -1;
	const char *why = NULL;
	void *self = build(k, argc, argv, &rate, &why, &bad);
	if (self == NULL)
		return 2;
	if (why == NULL)
		printf("ok\n");
	else
		printf("error %s %s\n", bad >= 0 && bad < k->nparams ? k->params[bad].name : "rate", why);
	free(self);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int read_full(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 && p == buf ? 1 : -1; /* 1: end of input before a call */
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* offline computes blocks the engine's offline render sends on stdin: per
 * call, the frame count (u32), the state, then each input's block; it
 * answers with the new state, then each output's block. */
static int offline(const usn_kind *k, int argc, char **argv)
{
	int rate, bad = -1;
	const char *why = NULL;
	void *self = build(k, argc, argv, &rate, &why, &bad);
	if (self == NULL)
		return 2;
	if (why != NULL) {
		fprintf(stderr, "%s: %s\n", prog, why);
		return 2;
	}
	size_t cap = 0;
	float *buf = NULL;
	uint8_t *state = malloc(k->state_size + 1);
	const float *in[USN_MAX_PORTS];
	float *out[USN_MAX_PORTS];
	for (;;) {
		uint8_t hdr[4];
		int r = read_full(0, hdr, 4);
		if (r == 1)
			return 0;
		uint32_t frames = usn_get_u32(hdr);
		if (r != 0 || frames > 1 << 16 || read_full(0, state, k->state_size) != 0) {
			fprintf(stderr, "%s: offline: a short or malformed call\n", prog);
			return 1;
		}
		size_t need = (size_t)(k->inputs + k->outputs) * frames;
		if (need > cap) {
			free(buf);
			cap = need;
			if ((buf = malloc(cap * sizeof(float))) == NULL)
				return 1;
		}
		if (read_full(0, buf, (size_t)k->inputs * frames * sizeof(float)) != 0)
			return 1;
		for (int i = 0; i < k->inputs; i++)
			in[i] = buf + (size_t)i * frames;
		for (int i = 0; i < k->outputs; i++)
			out[i] = buf + (size_t)(k->inputs + i) * frames;
		k->process(self, state, in, out, (int)frames);
		if (write_full(1, state, k->state_size) != 0 ||
		    write_full(1, buf + (size_t)k->inputs * frames, (size_t)k->outputs * frames * sizeof(float)) != 0)
			return 1;
	}
}

/* ---- the node ---- */

static inline _Atomic uint64_t *a64(uint8_t *p) { return (_Atomic uint64_t *)(void *)p; }
static inline _Atomic uint32_t *a32(uint8_t *p) { return (_Atomic uint32_t *)(void *)p; }
static inline uint64_t ld64(uint8_t *p) { return atomic_load(a64(p)); }
static inline uint32_t ld32(uint8_t *p) { return atomic_load(a32(p)); }
static inline void st64(uint8_t *p, uint64_t v) { atomic_store(a64(p), v); }
static inline void st32(uint8_t *p, uint32_t v) { atomic_store(a32(p), v); }

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void futex_wake(uint8_t *word, int n) { syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0); }
static void futex_wait(uint8_t *word, uint32_t val) { syscall(SYS_futex, word, FUTEX_WAIT, val, NULL, NULL, 0); }

/* A feed: an output port of another node, read from whichever lane of it
 * published the block. */
typedef struct {
	uint8_t *node; /* its record */
	size_t outs;   /* lane 0's outputs, from the record */
	size_t stride; /* one lane's outputs, in bytes */
	int port;
} feed;

typedef struct {
	uint8_t *host;        /* its record */
	uint8_t *preds[MAX_FEEDS]; /* every node outside it that feeds it */
	int npreds;
} succ_host;

typedef struct {
	const usn_kind *k;
	const void *self;
	us_worker *w;
	uint8_t *bus, *host, *hlane, *node, *lane;
	size_t outs, stride;
	int block, lanes, my_lane, terminal;
	uint32_t terminals;
	feed feeds[USN_MAX_PORTS][MAX_FEEDS];
	int nfeeds[USN_MAX_PORTS];
	succ_host succ[MAX_SUCC];
	int nsucc;
	const float *in[USN_MAX_PORTS];
	float *out[USN_MAX_PORTS];
	float *mix[USN_MAX_PORTS];
	float *zero;
	uint8_t *state; /* STATE_HEADER + the kernel's */
	size_t state_len;
	uint64_t last;
	int state_lane;
} node;

static volatile sig_atomic_t stopping;
static uint8_t *wake_word;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
	if (wake_word != NULL)
		futex_wake(wake_word, INT_MAX);
}

static uint8_t *lane_rec(uint8_t *nodeRec, int l) { return nodeRec + BUS_NODE_HEADER + (size_t)l * BUS_NODE_LANE; }

static float *lane_out(uint8_t *nodeRec, size_t outs, size_t stride, int l, int port, int block)
{
	return (float *)(void *)(nodeRec + outs + (size_t)l * stride + (size_t)port * (size_t)block * 4);
}

/* parse_ptr reads an offset into the bus, which must leave room for size
 * bytes. */
static int parse_off(const char **s, size_t bus, size_t size, size_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(*s, &end, 10);
	if (end == *s || **s == '-' || errno != 0 || x > bus || bus - x < size)
		return -1;
	*v = (size_t)x;
	*s = end;
	return 0;
}

static int setup(node *n, int argc, char **argv, int *prio)
{
	uint64_t version, block, lanes, size, host, nodeOff, outs, stride, pr, terms, term;
	if (arg_u64(argc, argv, "version", 1 << 30, &version) || arg_u64(argc, argv, "block", 1 << 16, &block) ||
	    arg_u64(argc, argv, "lanes", MAX_LANES, &lanes) || arg_u64(argc, argv, "bus", UINT64_C(1) << 40, &size) ||
	    arg_u64(argc, argv, "host", size, &host) || arg_u64(argc, argv, "node", size, &nodeOff) ||
	    arg_u64(argc, argv, "outs", size, &outs) || arg_u64(argc, argv, "stride", size, &stride) ||
	    arg_u64(argc, argv, "prio", 99, &pr) || arg_u64(argc, argv, "terminals", UINT32_MAX, &terms) ||
	    arg_u64(argc, argv, "terminal", 1, &term))
		return -1;
	if (version != USN_PROTOCOL_VERSION) {
		fprintf(stderr, "%s: node protocol version %llu: this library speaks %d\n", prog, (unsigned long long)version,
			USN_PROTOCOL_VERSION);
		return -1;
	}
	if (block < 1 || lanes < 1 || stride < (uint64_t)n->k->outputs * block * 4 ||
	    host + BUS_HOST_HEADER + lanes * BUS_HOST_LANE > size ||
	    nodeOff + outs + lanes * stride > size || outs < BUS_NODE_HEADER + lanes * BUS_NODE_LANE) {
		fprintf(stderr, "%s: the bus's shape does not hold together: block %llu, lanes %llu, size %llu, host %llu, "
				"node %llu, outs %llu, stride %llu\n",
			prog, (unsigned long long)block, (unsigned long long)lanes, (unsigned long long)size,
			(unsigned long long)host, (unsigned long long)nodeOff, (unsigned long long)outs,
			(unsigned long long)stride);
		return -1;
	}
	struct stat st;
	if (fstat(BUS_FD, &st) != 0 || (uint64_t)st.st_size != size) {
		fprintf(stderr, "%s: the bus (descriptor %d): %s\n", prog, BUS_FD,
			errno != 0 ? strerror(errno) : "not the size the engine says");
		return -1;
	}
	uint8_t *bus = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, BUS_FD, 0);
	if (bus == MAP_FAILED) {
		fprintf(stderr, "%s: map the bus: %s\n", prog, strerror(errno));
		return -1;
	}
	if (ld64(bus + BUS_H_MAGIC) != BUS_MAGIC || ld32(bus + BUS_H_VERSION) != BUS_VERSION ||
	    ld32(bus + BUS_H_LANES) != lanes || ld32(bus + BUS_H_BLOCK_SIZE) != block ||
	    ld64(bus + BUS_H_TOTAL) != size) {
		fprintf(stderr, "%s: the bus's header (magic, version %u, lanes %u, block size %u) is not what the "
				"engine says (version %d, lanes %llu, block size %llu)\n",
			prog, ld32(bus + BUS_H_VERSION), ld32(bus + BUS_H_LANES), ld32(bus + BUS_H_BLOCK_SIZE), BUS_VERSION,
			(unsigned long long)lanes, (unsigned long long)block);
		return -1;
	}
	n->bus = bus;
	n->block = (int)block;
	n->lanes = (int)lanes;
	n->host = bus + host;
	n->node = bus + nodeOff;
	n->outs = outs;
	n->stride = stride;
	n->terminals = (uint32_t)terms;
	n->terminal = (int)term;
	*prio = (int)pr;

	char key[32];
	for (int i = 0; i < n->k->inputs; i++) {
		snprintf(key, sizeof key, "in%d", i);
		const char *s = arg(argc, argv, key);
		n->nfeeds[i] = 0;
		while (s != NULL && *s != '\0') {
			if (n->nfeeds[i] == MAX_FEEDS)
				goto bad_in;
			feed *f = &n->feeds[i][n->nfeeds[i]];
			size_t off, o, str, port;
			if (parse_off(&s, size, BUS_NODE_HEADER, &off) || *s++ != ':' || parse_off(&s, size, 0, &o) ||
			    *s++ != ':' || parse_off(&s, size, 0, &str) || *s++ != ':' || parse_off(&s, 1024, 0, &port) ||
			    off + o + lanes * str > size || (port + 1) * block * 4 > str || (*s != ',' && *s != '\0'))
				goto bad_in;
			if (*s == ',')
				s++;
			*f = (feed){.node = bus + off, .outs = o, .stride = str, .port = (int)port};
			n->nfeeds[i]++;
		}
		continue;
	bad_in:
		fprintf(stderr, "%s: argument %s = \"%s\": want NODE:OUTS:STRIDE:PORT[,...] within the bus\n", prog, key,
			arg(argc, argv, key));
		return -1;
	}
	for (n->nsucc = 0;; n->nsucc++) {
		snprintf(key, sizeof key, "succ%d", n->nsucc);
		const char *s = arg(argc, argv, key);
		if (s == NULL)
			break;
		if (n->nsucc == MAX_SUCC)
			goto bad_succ;
		succ_host *h = &n->succ[n->nsucc];
		size_t off;
		if (parse_off(&s, size, BUS_HOST_HEADER, &off) || *s++ != ':')
			goto bad_succ;
		h->host = bus + off;
		h->npreds = 0;
		while (*s != '\0') {
			if (h->npreds == MAX_FEEDS || parse_off(&s, size, BUS_NODE_HEADER + lanes * BUS_NODE_LANE, &off) ||
			    (*s != ',' && *s != '\0'))
				goto bad_succ;
			if (*s == ',')
				s++;
			h->preds[h->npreds++] = bus + off;
		}
		continue;
	bad_succ:
		fprintf(stderr, "%s: argument %s = \"%s\": want HOST:NODE[,NODE...] within the bus\n", prog, key,
			arg(argc, argv, key));
		return -1;
	}
	n->zero = calloc((size_t)block, sizeof(float));
	for (int i = 0; i < n->k->inputs; i++)
		if ((n->mix[i] = calloc((size_t)block, sizeof(float))) == NULL)
			return -1;
	n->state_len = STATE_HEADER + n->k->state_size;
	n->state = calloc(1, n->state_len);
	if (n->zero == NULL || n->state == NULL)
		return -1;
	return 0;
}

/* warm_up runs the kernel on private buffers, so that its code and data
 * are hot for the first block; never on the lane's outputs, which may hold
 * a block a previous process of this lane published. */
static void warm_up(node *n)
{
	uint8_t *st = calloc(1, n->k->state_size + 1);
	float *buf = calloc((size_t)n->block * (size_t)(n->k->outputs + 1), sizeof(float));
	if (st == NULL || buf == NULL)
		goto out;
	const float *in[USN_MAX_PORTS];
	float *out[USN_MAX_PORTS];
	for (int i = 0; i < n->k->inputs; i++)
		in[i] = n->zero;
	for (int i = 0; i < n->k->outputs; i++)
		out[i] = buf + (size_t)i * n->block;
	for (int r = 0; r < 8; r++)
		n->k->process(n->self, st, in, out, n->block);
out:
	free(st);
	free(buf);
}

static void self_signal(int sig)
{
	if (sig == SIGSEGV)
		signal(SIGSEGV, SIG_DFL);
	syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
}

/* fault carries out the fault planned for block c at point p, once. */
static void fault(node *n, uint64_t c, uint32_t p)
{
	uint8_t *f = n->node;
	if (ld64(f + BUS_FAULT_CYCLE) != c || ld32(f + BUS_FAULT_POINT) != p)
		return;
	uint32_t zero = 0;
	if (!atomic_compare_exchange_strong(a32(f + BUS_FAULT_FIRED), &zero, 1))
		return;
	int64_t now = now_ns();
	st64(f + BUS_FAULT_FIRED_AT, (uint64_t)now);
	switch (ld32(f + BUS_FAULT_KIND)) {
	case FAULT_KILL:
		self_signal(SIGKILL);
		for (;;)
			sched_yield();
	case FAULT_HANG:
		self_signal(SIGSTOP);
		for (;;)
			sched_yield(); /* stopped; and if continued, still hung */
	case FAULT_OVERRUN: {
		int64_t until = now + (int64_t)ld64(f + BUS_FAULT_SPIN);
		while (now_ns() < until)
			;
		break;
	}
	case FAULT_SEGV:
		self_signal(SIGSEGV);
		for (;;)
			sched_yield();
	}
}

static int done_lane(node *n, uint8_t *rec, uint64_t c)
{
	for (int l = 0; l < n->lanes; l++)
		if (ld64(lane_rec(rec, l) + BUS_NL_DONE) == c)
			return l;
	return -1;
}

static void wake_host(uint8_t *h, uint64_t c, int64_t now)
{
	if (ld64(h + BUS_HOST_REQ) != c - 1)
		return;
	st64(h + BUS_HOST_WAKE_AT, (uint64_t)now);
	uint64_t want = c - 1;
	if (atomic_compare_exchange_strong(a64(h + BUS_HOST_REQ), &want, c)) {
		st32(h + BUS_HOST_WAKE, (uint32_t)c);
		futex_wake(h + BUS_HOST_WAKE, INT_MAX);
	}
}

/* publish says block c is in this lane, wakes each host it feeds whose
 * inputs from outside are all published, and tells the driver when the
 * node feeds nothing. */
static void publish(node *n, uint64_t c)
{
	st64(n->lane + BUS_NL_FINISH_AT, (uint64_t)now_ns());
	st64(n->lane + BUS_NL_DONE, c);
	fault(n, c, POINT_AFTER_PUBLISH);
	int64_t now = now_ns();
	for (int s = 0; s < n->nsucc; s++) {
		int ready = 1;
		for (int p = 0; p < n->succ[s].npreds && ready; p++)
			ready = done_lane(n, n->succ[s].preds[p], c) >= 0;
		if (ready)
			wake_host(n->succ[s].host, c, now);
	}
	if (n->terminal) {
		uint32_t v = atomic_fetch_add(a32(n->bus + BUS_H_DRIVER), 1) + 1;
		if (v - ld32(n->bus + BUS_H_CYCLE_BASE) >= n->terminals)
			futex_wake(n->bus + BUS_H_DRIVER, 1);
	}
}

static const float *block_of(node *n, const feed *f, uint64_t c)
{
	int l = done_lane(n, f->node, c);
	return l < 0 ? NULL : lane_out(f->node, f->outs, f->stride, l, f->port, n->block);
}

/* compute makes block c from the state after c-1: the outputs, then one
 * commit tagged c, then the publication. */
static int compute(node *n, uint64_t c)
{
	st64(n->lane + BUS_NL_START_AT, (uint64_t)now_ns());
	fault(n, c, POINT_BEFORE_COMPUTE);
	for (int k = 0; k < n->k->inputs; k++) {
		int nf = n->nfeeds[k];
		if (nf == 0) {
			n->in[k] = n->zero;
			continue;
		}
		const float *first = block_of(n, &n->feeds[k][0], c);
		if (first == NULL)
			goto not_ready;
		if (nf == 1) {
			n->in[k] = first;
			continue;
		}
		/* Fan-in: summed in edge order, in float, as every engine does. */
		float *m = n->mix[k];
		memcpy(m, first, (size_t)n->block * sizeof(float));
		for (int j = 1; j < nf; j++) {
			const float *s = block_of(n, &n->feeds[k][j], c);
			if (s == NULL)
				goto not_ready;
			for (int i = 0; i < n->block; i++)
				m[i] += s[i];
		}
		n->in[k] = m;
	}
	n->k->process(n->self, n->state + STATE_HEADER, n->in, n->out, n->block);
	fault(n, c, POINT_AFTER_OUTPUT);
	put_u64(n->state, c);
	usn_put_u32(n->state + 8, (uint32_t)n->my_lane);
	int err = us_commit(n->w, n->state, n->state_len);
	if (err != 0)
		return err;
	n->last = c;
	n->state_lane = n->my_lane;
	fault(n, c, POINT_AFTER_COMMIT);
	publish(n, c);
	return 0;
not_ready:
	fprintf(stderr, "%s: woken for block %llu before its inputs were published\n", prog, (unsigned long long)c);
	return -1;
}

/* adopt loads the latest committed state; 0 when there was none. */
static int adopt(node *n)
{
	long got = us_state(n->w, n->state, n->state_len);
	if (got == US_ENOSTATE) {
		memset(n->state, 0, n->state_len);
		n->last = 0;
		n->state_lane = n->my_lane;
		return 0;
	}
	if (got < 0) {
		fprintf(stderr, "%s: state: %s\n", prog, us_strerror((int)got));
		return -1;
	}
	if ((size_t)got != n->state_len) {
		fprintf(stderr, "%s: committed state is %ld bytes, want %zu\n", prog, got, n->state_len);
		return -1;
	}
	n->last = get_u64(n->state);
	n->state_lane = (int)usn_get_u32(n->state + 8);
	if (n->state_lane >= n->lanes) {
		fprintf(stderr, "%s: committed state names lane %d of %d\n", prog, n->state_lane, n->lanes);
		return -1;
	}
	return 1;
}

/* resume places a process that found no committed state where the bus is
 * (a cold restart): at the block its host was last asked for, R, copying
 * R into its lane if another lane published it; its state starts from
 * zero. */
static void resume(node *n)
{
	uint64_t r = ld64(n->host + BUS_HOST_REQ);
	n->last = 0;
	n->state_lane = n->my_lane;
	if (r == 0)
		return;
	n->last = r - 1;
	int l = done_lane(n, n->node, r);
	if (l < 0)
		return;
	if (l != n->my_lane) {
		uint8_t *from = lane_rec(n->node, l);
		memcpy(lane_out(n->node, n->outs, n->stride, n->my_lane, 0, n->block),
			lane_out(n->node, n->outs, n->stride, l, 0, n->block), (size_t)n->k->outputs * n->block * 4);
		st64(n->lane + BUS_NL_START_AT, ld64(from + BUS_NL_START_AT));
		st64(n->lane + BUS_NL_FINISH_AT, ld64(from + BUS_NL_FINISH_AT));
		st64(n->lane + BUS_NL_DONE, r);
	}
	n->last = r;
}

static int serve(node *n, int64_t promoted_at, int was_spare)
{
	int had = adopt(n);
	if (had < 0)
		return 1;
	if (!had)
		resume(n);
	uint32_t recovered = RECOVERED_NONE;
	if (was_spare) {
		uint64_t c = ld64(n->host + BUS_HOST_REQ);
		recovered = c == n->last + 1 ? RECOVERED_COMPUTE : c == n->last && c > 0 ? RECOVERED_REUSE : RECOVERED_BETWEEN;
	}
	st32(n->hlane + BUS_HL_RECOVERED, recovered);
	st64(n->hlane + BUS_HL_ADOPTED, n->last);
	st64(n->hlane + BUS_HL_PROMOTED_AT, (uint64_t)promoted_at);
	st32(n->hlane + BUS_HL_STATE, LANE_ACTIVE);
	if (!had) {
		for (int i = 0; i < 2; i++) {
			put_u64(n->state, n->last);
			usn_put_u32(n->state + 8, (uint32_t)n->state_lane);
			if (us_commit(n->w, n->state, n->state_len) != 0)
				return 0; /* fenced already */
		}
	}
	for (;;) {
		if (stopping || ld32(n->bus + BUS_H_STOP) != 0)
			return 0;
		uint64_t c = ld64(n->host + BUS_HOST_REQ);
		if (c == n->last + 1) {
			int err = compute(n, c);
			if (err == US_EFENCED) {
				/* The engine kills a fenced primary: act no more. */
				while (!stopping)
					pause();
				return 0;
			}
			if (err != 0) {
				if (err != -1)
					fprintf(stderr, "%s: commit: %s\n", prog, us_strerror(err));
				return 1;
			}
		} else if (c == n->last && c > 0 && ld64(n->lane + BUS_NL_DONE) != c) {
			/* The previous primary committed this block and may not
			 * have published it: it is complete in its lane. */
			st64(n->lane + BUS_NL_START_AT, (uint64_t)now_ns());
			if (n->state_lane != n->my_lane)
				memcpy(lane_out(n->node, n->outs, n->stride, n->my_lane, 0, n->block),
					lane_out(n->node, n->outs, n->stride, n->state_lane, 0, n->block),
					(size_t)n->k->outputs * n->block * 4);
			publish(n, c);
		} else if (c == n->last) {
			futex_wait(n->host + BUS_HOST_WAKE, (uint32_t)c);
		} else {
			fprintf(stderr, "%s: asked for block %llu, state follows block %llu\n", prog, (unsigned long long)c,
				(unsigned long long)n->last);
			return 1;
		}
	}
}

/* raise_process puts every thread of the process but the calling one (the
 * SDK's thread, holding the robust list and watching the lifeline) in SCHED_FIFO 1: when the
 * process is killed, its threads' exit wakes the spare, and must not wait
 * behind the machine's other work. It reports whether all were raised. */
static int raise_process(void)
{
	DIR *d = opendir("/proc/self/task");
	if (d == NULL)
		return 0;
	pid_t self = (pid_t)syscall(SYS_gettid);
	int all = 1;
	struct sched_param sp = {.sched_priority = 1};
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid > 0 && tid != self && sched_setscheduler(tid, SCHED_FIFO, &sp) != 0)
			all = 0;
	}
	closedir(d);
	return all;
}

static int run_node(const usn_kind *k, int argc, char **argv)
{
	static node n;
	n.k = k;
	int rate, bad = -1, prio = 0;
	const char *why = NULL;
	void *self = build(k, argc, argv, &rate, &why, &bad);
	if (self == NULL)
		return 2;
	if (why != NULL) {
		fprintf(stderr, "%s: %s\n", prog, why);
		return 2;
	}
	n.self = self;
	int err = us_attach(&n.w);
	if (err != 0) {
		fprintf(stderr, "%s: %s\n", prog, us_strerror(err));
		return US_EXIT_REFUSED;
	}
	if (setup(&n, argc, argv, &prio) != 0)
		return 2;
	n.my_lane = us_lane(n.w);
	if (n.my_lane >= n.lanes || us_state_size(n.w) < n.state_len) {
		fprintf(stderr, "%s: lane %d of %d, state slot %zu bytes for %zu\n", prog, n.my_lane, n.lanes,
			us_state_size(n.w), n.state_len);
		return 2;
	}
	n.hlane = n.host + BUS_HOST_HEADER + (size_t)n.my_lane * BUS_HOST_LANE;
	n.lane = lane_rec(n.node, n.my_lane);
	for (int i = 0; i < k->outputs; i++)
		n.out[i] = lane_out(n.node, n.outs, n.stride, n.my_lane, i, n.block);
	warm_up(&n);

	int was_spare = !us_active(n.w);
	st32(n.hlane + BUS_HL_PID, (uint32_t)getpid());
	if (was_spare)
		st32(n.hlane + BUS_HL_STATE, LANE_PARKED);
	st32(n.hlane + BUS_HL_TID, (uint32_t)syscall(SYS_gettid));
	if (prio > 0) {
		struct sched_param sp = {.sched_priority = prio};
		uint32_t got = (uint32_t)prio;
		if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0) {
			got = PRIORITY_DENIED;
		} else {
			/* The loop allocates nothing: the pages it has are all
			 * it will touch, so MCL_CURRENT is enough. */
			uint32_t setup = raise_process() ? SETUP_THREADS_RAISED : 0;
			if (mlockall(MCL_CURRENT) == 0)
				setup |= SETUP_MEMORY_LOCKED;
			st32(n.hlane + BUS_HL_SETUP, setup);
		}
		st32(n.hlane + BUS_HL_PRIORITY, got);
	}
	us_ready(n.w);
	if ((err = us_wait_active(n.w)) != 0) { /* a spare parks here */
		fprintf(stderr, "%s: %s\n", prog, us_strerror(err));
		return 1;
	}
	/* The primary stops cleanly on SIGTERM (a parked spare just ends). */
	wake_word = n.host + BUS_HOST_WAKE;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	int status = serve(&n, now_ns(), was_spare);
	us_exit(n.w, status);
	return status;
}

int usn_main(const usn_kind *k, int argc, char **argv)
{
	if (k != NULL && k->name != NULL)
		prog = k->name;
	if (k == NULL || check_kind(k) != 0)
		return 2;
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "--understudy-describe") == 0)
		return describe(k);
	if (strcmp(mode, "--understudy-check") == 0)
		return check(k, argc, argv);
	if (strcmp(mode, "--understudy-offline") == 0)
		return offline(k, argc, argv);
	if (strcmp(mode, "--understudy-node") == 0)
		return run_node(k, argc, argv);
	fprintf(stderr, "%s: a DSP node of an understudy audio graph: name it in a graph file (kind: exec, path: %s), "
			"the engine runs it\n",
		prog, argc > 0 ? argv[0] : prog);
	return 2;
}
