/*
 * scenario.c: the C SDK's scenario worker. It runs the scenario named by
 * UNDERSTUDY_SCENARIO, as the contract in sdk/scenario_test.go says.
 */
#define _GNU_SOURCE
#include "understudy.h"

#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void sleep_ns(long ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000L, .tv_nsec = ns % 1000000000L};
	while (nanosleep(&ts, &ts) != 0) {
	}
}

static void sleep_forever(void)
{
	for (;;)
		pause();
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "cscenario: %s: %s\n", what, us_strerror(err));
	exit(1);
}

static void counter(us_worker *w)
{
	us_ready(w); /* a spare is ready once parked */
	int err = us_wait_active(w);
	if (err != 0)
		fail("wait active", err);
	unsigned char state[8] = {0};
	uint64_t n = 0;
	long got = us_state(w, state, sizeof state);
	if (got == 8)
		for (int i = 7; i >= 0; i--)
			n = n << 8 | state[i];
	printf("start %llu\n", (unsigned long long)n);
	fflush(stdout);
	for (;;) {
		n++;
		for (int i = 0; i < 8; i++)
			state[i] = (unsigned char)(n >> (8 * i));
		err = us_commit(w, state, sizeof state);
		if (err == US_EFENCED) {
			printf("fenced %llu\n", (unsigned long long)n);
			fflush(stdout);
			exit(3);
		}
		if (err != 0)
			fail("commit", err);
		us_beat(w);
		sleep_ns(1000000);
	}
}

static void *cancel_later(void *w)
{
	sleep_ns(100000000);
	us_cancel_wait(w);
	return NULL;
}

static void give_up(us_worker *w)
{
	us_ready(w);
	if (us_active(w)) {
		printf("active\n");
		fflush(stdout);
		sleep_forever();
	}
	int err = us_wait_active_for(w, 100000000);
	if (err != US_ETIMEDOUT)
		fail("wait for 100 ms", err);
	printf("timeout\n");
	fflush(stdout);
	pthread_t t;
	if ((err = pthread_create(&t, NULL, cancel_later, w)) != 0)
		fail("pthread_create", -err);
	err = us_wait_active(w);
	if (err != US_ECANCELED)
		fail("cancelled wait", err);
	pthread_join(t, NULL);
	printf("cancelled\n");
	fflush(stdout);
	sleep_forever();
}

static void echo(us_worker *w)
{
	us_ready(w);
	int64_t ivl = us_heartbeat_interval_ns(w);
	if (ivl <= 0)
		ivl = 10000000;
	size_t max = us_ring_max(w);
	if (max == 0)
		fail("echo", US_ENORING);
	unsigned char *msg = malloc(max), *reply = malloc(max + 5);
	if (msg == NULL || reply == NULL)
		fail("echo", -12);
	for (;;) {
		long n = us_recv(w, msg, max, ivl);
		us_beat(w);
		if (n == US_ETIMEDOUT)
			continue;
		if (n < 0)
			fail("recv", (int)n);
		memcpy(reply, "echo:", 5);
		memcpy(reply + 5, msg, (size_t)n);
		size_t len = (size_t)n + 5 > max ? max : (size_t)n + 5;
		int err = us_reply(w, reply, len);
		if (err != 0)
			fail("reply", err);
	}
}

static void child(us_worker *w)
{
	us_ready(w);
	/* The child gets no UNDERSTUDY_* variables. */
	size_t k = 0;
	for (char **e = environ; *e != NULL; e++)
		k++;
	char **env = calloc(k + 1, sizeof *env);
	if (env == NULL)
		fail("child", -12);
	k = 0;
	for (char **e = environ; *e != NULL; e++)
		if (strncmp(*e, "UNDERSTUDY_", 11) != 0)
			env[k++] = *e;
	char *argv[] = {"sleep", "600", NULL};
	pid_t pid;
	int err = posix_spawnp(&pid, "sleep", NULL, NULL, argv, env);
	if (err != 0)
		fail("spawn sleep", -err);
	printf("child %d\n", (int)pid);
	fflush(stdout);
	for (;;) {
		us_beat(w);
		sleep_ns(1000000);
	}
}

int main(void)
{
	us_worker *w;
	int err = us_attach(&w);
	if (err != 0) {
		fprintf(stderr, "cscenario: %s\n", us_strerror(err));
		return US_EXIT_REFUSED;
	}
	const char *sc = getenv("UNDERSTUDY_SCENARIO");
	if (sc == NULL)
		sc = "";
	if (strcmp(sc, "beat") == 0) {
		us_ready(w);
		for (;;) {
			us_beat(w);
			sleep_ns(1000000);
		}
	} else if (strcmp(sc, "hang") == 0) {
		us_ready(w);
		for (int i = 0; i < 10; i++) {
			us_beat(w);
			sleep_ns(1000000);
		}
		sleep_forever();
	} else if (strcmp(sc, "never-ready") == 0) {
		sleep_forever();
	} else if (strcmp(sc, "counter") == 0) {
		counter(w);
	} else if (strcmp(sc, "echo") == 0) {
		echo(w);
	} else if (strcmp(sc, "child") == 0) {
		child(w);
	} else if (strcmp(sc, "give-up") == 0) {
		give_up(w);
	}
	fprintf(stderr, "cscenario: UNDERSTUDY_SCENARIO = \"%s\": not a scenario\n", sc);
	return 2;
}
