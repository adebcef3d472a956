//go:build jack

#include "client.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_ACQ_REL)

int64_t us_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Shared futex operations, as the Go side's: no FUTEX_PRIVATE_FLAG. */
static void wake(uint32_t *w)
{
	syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void wait_until(uint32_t *w, uint32_t val, int64_t until)
{
	struct timespec ts = {.tv_sec = until / 1000000000, .tv_nsec = until % 1000000000};
	syscall(SYS_futex, w, FUTEX_WAIT_BITSET, val, &ts, NULL, FUTEX_BITSET_MATCH_ANY);
}

static void stamp(us_client *c, int64_t t0)
{
	uint64_t i = LOAD(&c->costs);
	c->cost[i % 4096] = us_now() - t0;
	STORE(&c->costs, i + 1);
}

static void silence(float **bufs, int channels, jack_nframes_t n)
{
	for (int i = 0; i < channels; i++)
		memset(bufs[i], 0, n * sizeof(float));
}

/* take_inputs copies this period's inputs into the slot of cycle C, and
   marks the slot as holding C only when they are this period's for sure:
   read in step with the server, before it began another period. */
static void take_inputs(us_client *c, float **ins, uint64_t C, jack_nframes_t ft, int trusted)
{
	if (c->inputs == 0)
		return;
	char *slot = c->in_ring + (C % US_SLOTS) * c->in_stride;
	STORE((uint64_t *)slot, 0);
	if (!trusted) {
		ADD(&c->dropped, 1);
		return;
	}
	float *blocks = (float *)(slot + 64);
	for (int i = 0; i < c->inputs; i++)
		memcpy(blocks + i * c->frames, ins[i], c->frames * sizeof(float));
	if (jack_last_frame_time(c->client) != ft) {
		/* The server began the next period while they were copied: an
		   upstream client may have written its next block over them. */
		ADD(&c->dropped, 1);
		return;
	}
	STORE((uint64_t *)slot, C);
}

/* start_cycle starts cycle C, whose period began at start: its start
   stamped (and those of cycles of periods skipped, as if on time), the
   driver woken. t0 is when the callback began. */
static void start_cycle(us_client *c, uint64_t C, int64_t start, int64_t t0, int64_t period)
{
	uint64_t from = LOAD(&c->ticked) + 1;
	if (from < c->first || C - from >= US_SLOTS / 2)
		from = C;
	for (uint64_t x = from; x <= C; x++)
		STORE(&c->tick_at[x % US_SLOTS], start - (int64_t)(C - x) * period);
	STORE(&c->ticked, C);
	if (c->trace) {
		c->trace->tick[C % US_TRACE] = t0;
		c->trace->nominal[C % US_TRACE] = start;
	}
	ADD(&c->tick, 1);
	wake(&c->tick);
}

/* period_start returns when this period began by the server's clock (its
   DLL's estimate, in CLOCK_MONOTONIC ns), no later than t0 and no more
   than a period before it; t0 when the server does not say. A callback
   run late thus still measures its wait from the period's start, not its
   own: the server's next period begins on time whether or not the
   callback did, and a wait past it is an xrun. */
static int64_t period_start(us_client *c, int64_t t0, int64_t period)
{
	jack_nframes_t cf;
	jack_time_t cu, nu;
	float pu;
	if (jack_get_cycle_times(c->client, &cf, &cu, &nu, &pu) != 0)
		return t0;
	/* JACK's clock need not be CLOCK_MONOTONIC: its offset, now. */
	int64_t start = (int64_t)cu * 1000 - ((int64_t)jack_get_time() * 1000 - us_now());
	if (start > t0)
		return t0;
	if (start < t0 - period)
		return t0 - period;
	return start;
}

/* play copies block B to the ports, waiting for it until its deadline as
   the engine has it (the period that started it, plus slack periods, less
   the margin), and never past this period's; a block not there by then is
   silence. It returns whether it waited. */
static int play(us_client *c, float **bufs, uint64_t B, int64_t start, int64_t period)
{
	int waited = 0;
	uint64_t *done = &c->done[B % US_SLOTS];
	int64_t until = start + period - c->margin;
	int64_t due = LOAD(&c->tick_at[B % US_SLOTS]) + (1 + c->slack) * period - c->margin;
	if (due < until)
		until = due;
	while (LOAD(done) != B) {
		uint32_t p = LOAD(&c->pub);
		if (LOAD(done) == B || LOAD(&c->gone))
			break;
		if (us_now() >= until)
			break;
		wait_until(&c->pub, p, until);
		waited = 1;
	}
	if (LOAD(done) == B) {
		const float *slot = c->ring + (B % US_SLOTS) * c->channels * c->frames;
		for (int i = 0; i < c->channels; i++)
			memcpy(bufs[i], slot + i * c->frames, c->frames * sizeof(float));
		STORE(&c->played, B);
		if (c->trace)
			c->trace->played[B % US_TRACE] = us_now();
	} else {
		silence(bufs, c->channels, c->frames);
		ADD(&c->silent, 1);
		if (c->trace)
			c->trace->played[B % US_TRACE] = -us_now();
	}
	return waited;
}

/* process: each period starts the next cycle (the driver thread waits on
   tick) and plays block C - slack (the driver puts blocks and bumps pub).

   The period's number comes from the server's frame clock, not from a
   count of callbacks, and the frame clock is the server's current period
   when it is read, not necessarily the one this callback was run for:
   - a period the server ran without this client (an xrun) is skipped,
     and every later block keeps its place;
   - a callback run late, after the server began the next period, reads
     that period's frame time with the inputs of the period before: it
     is numbered as the later period (its output is heard there), but its
     inputs are not taken, since they may be a period old;
   - a second callback in the same period (the late one's own trigger, or
     a second trigger after an xrun) starts nothing and plays nothing:
     the ports hold what this period's first callback put there.
   Either way block C's input is what the server's period C had, or
   silence, and block C is heard in period C + slack, or not at all: the
   latency never moves. */
static int process(jack_nframes_t n, void *arg)
{
	us_client *c = arg;
	int64_t t0 = us_now();
	jack_nframes_t ft = jack_last_frame_time(c->client);
	uint64_t step = 1;
	if (c->seen_ft && c->frames > 0) {
		step = (uint32_t)(ft - c->last_ft) / (uint32_t)c->frames;
		if (step > 1)
			ADD(&c->skipped, step - 1);
	}
	c->seen_ft = 1;
	c->last_ft = ft;
	if (step == 0) {
		ADD(&c->repeats, 1);
		stamp(c, t0);
		return 0;
	}
	uint64_t k = ADD(&c->periods, step);
	/* The output ports are being written: a listener in this process
	   (the tests' ears) can tell this period's block from a stale one. */
	ADD(&c->out_seq, 1);
	float *bufs[c->channels];
	for (int i = 0; i < c->channels; i++)
		bufs[i] = jack_port_get_buffer(c->out[i], n);
	float *ins[c->inputs > 0 ? c->inputs : 1];
	for (int i = 0; i < c->inputs; i++)
		ins[i] = jack_port_get_buffer(c->in[i], n);
	if ((int)n != c->frames) {
		silence(bufs, c->channels, n);
		goto out;
	}
	uint64_t b = __atomic_exchange_n(&c->begin, 0, __ATOMIC_ACQ_REL);
	if (b) {
		c->base = (int64_t)k - (int64_t)b;
		c->first = b;
		STORE(&c->running, 1);
	}
	if (!LOAD(&c->running)) {
		silence(bufs, c->channels, n);
		goto out;
	}
	uint64_t C = (uint64_t)((int64_t)k - c->base);
	int64_t period = (int64_t)c->frames * 1000000000 / c->rate;
	int64_t start = period_start(c, t0, period);
	/* The inputs first, before anything waits: the longer the callback
	   runs, the likelier an upstream client's next block. */
	take_inputs(c, ins, C, ft, step == 1);
	/* With slack, the block played is one the driver finished (or is
	   finishing) before this period: play it first, then start cycle C,
	   so that the driver's wake-up, which may preempt this thread, comes
	   last. With none, cycle C must start first: its block is this
	   period's. */
	if (c->slack == 0)
		start_cycle(c, C, start, t0, period);
	uint64_t last = LOAD(&c->last);
	int waited = 0;
	if (C < c->first + c->slack || (last != 0 && C - c->slack > last)) {
		silence(bufs, c->channels, n);
	} else {
		waited = play(c, bufs, C - c->slack, start, period);
	}
	if (c->slack != 0)
		start_cycle(c, C, start, t0, period);
	/* A callback that waited for a block and returned after the server's
	   next period began may have made it an xrun: counted, whatever the
	   server says. (One run so late that it ends past the period without
	   waiting was made late by the machine, not by the engine.) */
	int64_t end = us_now();
	if (waited && end > start + period)
		ADD(&c->overruns, 1);
	if (c->trace)
		c->trace->ended[C % US_TRACE] = end;
out:
	STORE(&c->out_ft, ft);
	ADD(&c->out_seq, 1);
	stamp(c, t0);
	return 0;
}

static int on_xrun(void *arg)
{
	us_client *c = arg;
	uint64_t n = ADD(&c->xruns, 1);
	us_trace *t = c->trace;
	if (t && n <= 1024) {
		t->xrun_period[n - 1] = LOAD(&c->periods);
		t->xrun_at[n - 1] = us_now();
		STORE(&t->xruns, n);
	}
	return 0;
}

static int on_frames(jack_nframes_t n, void *arg)
{
	us_client *c = arg;
	if (c->frames != 0 && (int)n != c->frames) {
		STORE(&c->new_frames, n);
		ADD(&c->tick, 1);
		wake(&c->tick);
	}
	return 0;
}

static int on_rate(jack_nframes_t n, void *arg)
{
	us_client *c = arg;
	if (c->rate != 0 && (int)n != c->rate) {
		STORE(&c->new_rate, n);
		ADD(&c->tick, 1);
		wake(&c->tick);
	}
	return 0;
}

static void on_shutdown(jack_status_t code, const char *reason, void *arg)
{
	(void)code;
	(void)reason;
	us_gone(arg);
}

void us_gone(us_client *c)
{
	STORE(&c->gone, 1);
	ADD(&c->tick, 1);
	wake(&c->tick);
	ADD(&c->pub, 1);
	wake(&c->pub);
}

/* libjack's own messages go nowhere: the Go side's errors say what went
   wrong, in the terms of its Config. */
static void quiet(const char *msg) { (void)msg; }

int us_server_up(const char *server)
{
	jack_status_t st = 0;
	jack_options_t opts = JackNoStartServer;
	jack_client_t *j = server != NULL ? jack_client_open("understudy-probe", opts | JackServerName, &st, server)
					  : jack_client_open("understudy-probe", opts, &st);
	if (j == NULL)
		return 0;
	jack_client_close(j);
	return 1;
}

static jack_client_t *open_client(const char *name, const char *server, int *status)
{
	jack_set_error_function(quiet);
	jack_set_info_function(quiet);
	jack_status_t st = 0;
	jack_options_t opts = JackNoStartServer | JackUseExactName;
	jack_client_t *j;
	if (server != NULL)
		j = jack_client_open(name, opts | JackServerName, &st, server);
	else
		j = jack_client_open(name, opts, &st);
	*status = (int)st;
	return j;
}

/* new_client opens a client whose process callback is cb, counting xruns
 * and noticing the server's end; NULL when it cannot. */
static us_client *new_client(const char *name, const char *server, int *status, JackProcessCallback cb)
{
	jack_client_t *j = open_client(name, server, status);
	if (j == NULL)
		return NULL;
	us_client *c = calloc(1, sizeof *c);
	if (c == NULL) {
		jack_client_close(j);
		return NULL;
	}
	c->client = j;
	jack_set_process_callback(j, cb, c);
	jack_set_xrun_callback(j, on_xrun, c);
	jack_on_info_shutdown(j, on_shutdown, c);
	return c;
}

us_client *us_open(const char *name, const char *server, int *status)
{
	us_client *c = new_client(name, server, status, process);
	if (c == NULL)
		return NULL;
	jack_client_t *j = c->client;
	jack_set_buffer_size_callback(j, on_frames, c);
	jack_set_sample_rate_callback(j, on_rate, c);
	return c;
}

int us_attach(us_client *c, int frames, int slack, int rate, int64_t margin,
	      const char **ports, int n, const char **in_ports, int nin, void *in_ring, int in_stride,
	      char *errbuf, int errlen)
{
	if (nin > 0) {
		c->in = calloc(nin, sizeof(jack_port_t *));
		if (c->in == NULL) {
			snprintf(errbuf, errlen, "out of memory");
			return -1;
		}
		for (int i = 0; i < nin; i++) {
			c->in[i] = jack_port_register(c->client, in_ports[i], JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
			if (c->in[i] == NULL) {
				snprintf(errbuf, errlen, "the server refused input port %s", in_ports[i]);
				return -1;
			}
		}
		c->in_ring = in_ring;
		c->in_stride = in_stride;
		c->inputs = nin;
	}
	c->ring = calloc((size_t)US_SLOTS * n * frames, sizeof(float));
	c->out = calloc(n, sizeof(jack_port_t *));
	if (c->ring == NULL || c->out == NULL) {
		snprintf(errbuf, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		c->out[i] = jack_port_register(c->client, ports[i], JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
		if (c->out[i] == NULL) {
			snprintf(errbuf, errlen, "the server refused output port %s", ports[i]);
			return -1;
		}
	}
	c->frames = frames;
	c->slack = slack;
	c->rate = rate;
	c->margin = margin;
	__atomic_store_n(&c->channels, n, __ATOMIC_SEQ_CST);
	if (jack_activate(c->client) != 0) {
		snprintf(errbuf, errlen, "the server refused to activate the client");
		return -1;
	}
	return 0;
}

int us_connect(us_client *c, const char *from, const char *to)
{
	return jack_connect(c->client, from, to);
}

void us_close(us_client *c)
{
	if (c == NULL)
		return;
	jack_client_close(c->client);
	free(c->ring);
	free(c->out);
	free(c->in);
	free(c->trace);
	free(c);
}

const char *us_name(us_client *c) { return jack_get_client_name(c->client); }
jack_nframes_t us_server_frames(us_client *c) { return jack_get_buffer_size(c->client); }
jack_nframes_t us_server_rate(us_client *c) { return jack_get_sample_rate(c->client); }

float *us_slot(us_client *c, uint64_t C)
{
	return c->ring + (C % US_SLOTS) * c->channels * c->frames;
}

static int process_empty(jack_nframes_t n, void *arg)
{
	(void)n;
	us_client *c = arg;
	int64_t t0 = us_now();
	stamp(c, t0);
	return 0;
}

us_client *us_open_empty(const char *name, const char *server, int *status)
{
	us_client *c = new_client(name, server, status, process_empty);
	if (c == NULL)
		return NULL;
	jack_client_t *j = c->client;
	if (jack_activate(j) != 0) {
		jack_client_close(j);
		free(c);
		return NULL;
	}
	return c;
}

static int process_capture(jack_nframes_t n, void *arg)
{
	us_capture *c = arg;
	/* Recorded where the server's frame clock says: a period this client
	   missed is silence in its place. */
	jack_nframes_t ft = jack_last_frame_time(c->client);
	if (c->seen_ft)
		c->clock += (uint32_t)(ft - c->last_ft);
	c->seen_ft = 1;
	c->last_ft = ft;
	if (!LOAD(&c->armed))
		return 0;
	if (c->at_arm == 0)
		c->at_arm = c->clock + 1;
	uint64_t f = c->clock + 1 - c->at_arm;
	if (f + n > c->cap)
		return 0;
	/* What the ports hold is this period's only if the player wrote them
	   in this period and is not writing them now: a listener the server
	   ran before the player finished (after an xrun) hears its previous
	   block again, and one run late may hear the next. Those periods
	   are recorded as silence (a second run in the same period may still
	   record them). */
	us_client *p = c->player;
	uint32_t seq = p != NULL ? LOAD(&p->out_seq) : 0;
	int heard = p == NULL || ((seq & 1) == 0 && LOAD(&p->out_ft) == ft);
	int copied = heard;
	for (int i = 0; i < c->n && heard; i++) {
		const float *in = jack_port_get_buffer(c->in[i], n);
		for (jack_nframes_t j = 0; j < n; j++)
			c->buf[(f + j) * c->n + i] = in[j];
	}
	if (heard && (jack_last_frame_time(c->client) != ft || (p != NULL && LOAD(&p->out_seq) != seq)))
		heard = 0;
	if (heard) {
		c->heard_at = f + 1;
	} else if (copied || c->heard_at != f + 1) {
		memset(c->buf + f * c->n, 0, n * c->n * sizeof(float));
		c->heard_at = 0;
		ADD(&c->stale, 1);
	}
	if (f + n > c->frames)
		STORE(&c->frames, f + n);
	return 0;
}

us_capture *us_capture_open(const char *name, const char *server, int n, uint64_t cap, int *status)
{
	jack_client_t *j = open_client(name, server, status);
	if (j == NULL)
		return NULL;
	us_capture *c = calloc(1, sizeof *c);
	c->client = j;
	c->n = n;
	c->cap = cap;
	c->in = calloc(n, sizeof(jack_port_t *));
	c->buf = calloc(cap * n, sizeof(float));
	char port[32];
	for (int i = 0; i < n; i++) {
		snprintf(port, sizeof port, "in_%d", i);
		c->in[i] = jack_port_register(j, port, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
	}
	jack_set_process_callback(j, process_capture, c);
	if (jack_activate(j) != 0) {
		us_capture_close(c);
		*status = -1;
		return NULL;
	}
	return c;
}

void us_capture_close(us_capture *c)
{
	if (c == NULL)
		return;
	jack_client_close(c->client);
	free(c->buf);
	free(c->in);
	free(c);
}

static int process_source(jack_nframes_t n, void *arg)
{
	us_capture *c = arg;
	float *out = jack_port_get_buffer(c->in[0], n);
	jack_nframes_t ft = jack_last_frame_time(c->client);
	for (jack_nframes_t j = 0; j < n; j++)
		out[j] = (float)((ft + j) % (1u << 24));
	return 0;
}

us_capture *us_source_open(const char *name, const char *server, int *status)
{
	jack_client_t *j = open_client(name, server, status);
	if (j == NULL)
		return NULL;
	us_capture *c = calloc(1, sizeof *c);
	c->client = j;
	c->n = 1;
	c->in = calloc(1, sizeof(jack_port_t *));
	c->in[0] = jack_port_register(j, "out", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
	jack_set_process_callback(j, process_source, c);
	if (c->in[0] == NULL || jack_activate(j) != 0) {
		us_capture_close(c);
		*status = -1;
		return NULL;
	}
	return c;
}
