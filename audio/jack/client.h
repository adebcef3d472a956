//go:build jack

// The engine's side of the JACK client, in C: the process callback, which
// must neither allocate nor take a lock the Go side holds, runs here, and
// reaches the engine's driver thread through two futex words.

#ifndef UNDERSTUDY_JACK_CLIENT_H
#define UNDERSTUDY_JACK_CLIENT_H

#include <stdint.h>
#include <jack/jack.h>

#define US_SLOTS 64 /* blocks in the ring, a power of two */
#define US_TRACE 131072 /* blocks a trace holds, a power of two */

/* A trace of a run, for measurements: per block (mod US_TRACE), in
   CLOCK_MONOTONIC ns, when the callback that started its cycle began,
   when the server's period began by its own clock, when the block was
   put, when the callback played it (negative: played silence at that
   time), and when the callback that started it returned; and the
   xruns, with the period last seen. */
typedef struct us_trace {
	int64_t tick[US_TRACE];
	int64_t nominal[US_TRACE];
	int64_t put[US_TRACE];
	int64_t played[US_TRACE];
	int64_t ended[US_TRACE]; /* cycle -> when the callback that started it returned */
	uint64_t xrun_period[1024];
	int64_t xrun_at[1024];
	uint64_t xruns;
} us_trace;

typedef struct us_client {
	jack_client_t *client;
	int channels, frames, slack, rate;
	int64_t margin; /* ns before a period's end that a block must be in */
	jack_port_t **out;
	int inputs;        /* JACK input ports, copied into in_ring */
	jack_port_t **in;
	char *in_ring;     /* US_SLOTS slots of in_stride bytes: [0:8] cycle, [64:] blocks */
	int in_stride;

	float *ring;              /* US_SLOTS * channels * frames */
	uint64_t done[US_SLOTS];  /* the cycle each slot holds, 0: none */
	int64_t tick_at[US_SLOTS];/* when the period that started a cycle began */

	uint32_t tick;     /* futex: bumped each period that starts a cycle */
	uint32_t pub;      /* futex: bumped by each block put */
	uint64_t ticked;   /* the last cycle a period started */
	uint64_t begin;    /* a Run's first cycle, for the next period; 0: none */
	int64_t base;      /* period k starts cycle k - base */
	uint64_t first;    /* the Run's first cycle */
	uint64_t last;     /* the last cycle the Run will put; 0: running */
	uint32_t running;  /* periods start cycles */
	uint64_t periods;  /* periods since activation, by the server's frame clock */
	uint32_t last_ft;  /* the frame time of the last callback */
	uint32_t seen_ft;  /* a callback has run */
	uint64_t skipped;  /* periods skipped: run without this client, or it ran late */
	uint64_t repeats;  /* callbacks run a second time in one period */
	uint64_t dropped;  /* periods whose inputs were not taken: maybe a period old */
	uint32_t out_seq;  /* odd while a callback writes the output ports */
	uint32_t out_ft;   /* the frame time of the period the output ports hold */
	uint64_t played;   /* the last block played */
	uint64_t silent;   /* blocks due in a period and played as silence */
	uint64_t xruns;
	uint64_t overruns; /* callbacks that waited for a block and returned after their period's end */
	uint32_t gone;       /* the server shut the client down */
	uint32_t new_frames; /* the server's period changed to this */
	uint32_t new_rate;   /* the server's rate changed to this */

	us_trace *trace;   /* NULL: none */

	/* The callback's own cost: the last process callbacks' durations. */
	int64_t cost[4096];
	uint64_t costs;
} us_client;

/* us_open opens a client named name (exactly) on server (NULL: the
   default) and returns it, or NULL and the JACK status in *status. */
us_client *us_open(const char *name, const char *server, int *status);
/* us_attach registers one output port per name, and activates. It
   returns 0, or -1 with the reason in errbuf. */
int us_attach(us_client *c, int frames, int slack, int rate, int64_t margin,
	      const char **ports, int n, const char **in_ports, int nin, void *in_ring, int in_stride,
	      char *errbuf, int errlen);
/* us_server_up reports whether a client can connect to server. */
int us_server_up(const char *server);
/* us_gone marks the client's server gone and wakes whoever waits on it,
   as the shutdown callback does. */
void us_gone(us_client *c);
int us_connect(us_client *c, const char *from, const char *to);
void us_close(us_client *c);
const char *us_name(us_client *c);
jack_nframes_t us_server_frames(us_client *c);
jack_nframes_t us_server_rate(us_client *c);
float *us_slot(us_client *c, uint64_t C);
int64_t us_now(void);

/* An empty client, for measurements: a process callback that only
   stamps its cost. */
us_client *us_open_empty(const char *name, const char *server, int *status);

/* A capture client, for tests: n input ports recorded, interleaved, into
   a buffer of cap frames, from when armed. */
typedef struct us_capture {
	jack_client_t *client;
	int n;
	jack_port_t **in;
	float *buf;
	uint64_t cap, frames;
	uint32_t armed;
	uint64_t clock, at_arm; /* the server's frame clock, 64 bits; when armed */
	uint32_t last_ft, seen_ft;
	struct us_client *player; /* when set, only periods it wrote are recorded */
	uint64_t heard_at;        /* 1 + the frame a period was last recorded at */
	uint64_t stale;           /* periods recorded as silence: not the player's */
} us_capture;

us_capture *us_capture_open(const char *name, const char *server, int n, uint64_t cap, int *status);
void us_capture_close(us_capture *c);

/* A source client, for tests: one output port, "out", playing the
   server's frame clock (mod 2^24) as float32 samples. */
us_capture *us_source_open(const char *name, const char *server, int *status);

#endif
