/*
 * counter: a C worker with a hot standby. It keeps a running count in the
 * state it commits to shared memory; when its primary dies, a parked spare
 * takes over from the last count committed, with no restart.
 *
 *     cc -std=c11 -O2 -pthread -I sdk/c -o examples/c/counter examples/c/counter.c sdk/c/understudy.c
 *     go run ./cmd/understudy run examples/c/counter.yaml
 *
 * Its argument is the time between counts in milliseconds (100 by default).
 */
#define _GNU_SOURCE
#include "understudy.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

int main(int argc, char **argv)
{
	long every_ms = argc > 1 ? strtol(argv[1], NULL, 10) : 100;
	if (every_ms <= 0) {
		fprintf(stderr, "counter: the time between counts = \"%s\": want a positive number of milliseconds\n", argv[1]);
		return 2;
	}
	us_worker *w;
	int err = us_attach(&w);
	if (err != 0) {
		fprintf(stderr, "counter: %s\n", us_strerror(err));
		return US_EXIT_REFUSED;
	}
	if (us_state_size(w) < 8) {
		fprintf(stderr, "counter: state_size = %zu: want 8 or more\n", us_state_size(w));
		return 2;
	}

	/* Warm up here (load models, allocate buffers), then say ready. A
	 * spare says it too: it is ready once parked. */
	us_ready(w);
	err = us_wait_active(w); /* at once for the primary; a spare parks here */
	if (err != 0) {
		fprintf(stderr, "counter: %s\n", us_strerror(err));
		return 1;
	}
	signal(SIGTERM, on_term); /* the primary stops cleanly */

	unsigned char state[8] = {0};
	unsigned long long n = 0;
	if (us_state(w, state, sizeof state) == 8)
		memcpy(&n, state, 8); /* little-endian, as the machines Linux runs on */
	printf("lane %d is the primary, resuming from %llu\n", us_lane(w), n);
	fflush(stdout);

	while (!stopping) {
		n++;
		memcpy(state, &n, 8);
		err = us_commit(w, state, sizeof state);
		if (err == US_EFENCED) {
			/* A spare took over while this process was stopped or
			 * hung: it must act no more. */
			fprintf(stderr, "counter: fenced at %llu\n", n);
			return 3;
		}
		if (err != 0) {
			fprintf(stderr, "counter: commit: %s\n", us_strerror(err));
			return 1;
		}
		if (n % 10 == 0) {
			printf("count %llu\n", n);
			fflush(stdout);
		}
		us_beat(w);
		struct timespec ts = {.tv_sec = every_ms / 1000, .tv_nsec = every_ms % 1000 * 1000000L};
		nanosleep(&ts, NULL);
	}
	us_exit(w, 0); /* disarms the death notice: a clean end */
}
