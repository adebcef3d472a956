/*
 * understudy_node.h: DSP nodes of an understudy audio engine, written in C
 * (node protocol version 1).
 *
 * A graph names such a node by its executable (`kind: exec`, `path:
 * ./biquad`); the engine runs that executable as the node's process, a
 * primary with its hot spares, exactly as it runs a Go kind. The program
 * declares its kind in a usn_kind and hands it to usn_main, which does the
 * rest: it answers the engine's questions (ports, state size, parameters),
 * attaches to the worker segment and the engine's bus, parks as a spare,
 * and runs the node's cycle: the activation record, the input blocks read
 * in place from the bus, the output blocks written into its lane, the
 * state committed at each block boundary, the successors woken.
 * docs/node-protocol.md is the protocol this file implements.
 *
 * C11, libc and pthreads only, beside the worker SDK:
 *
 *     cc -std=c11 -O2 -pthread -I sdk/c -o biquad biquad.c \
 *         sdk/c/understudy_node.c sdk/c/understudy.c
 *
 * Build with -std=c11 (not gnu11): ISO C mode keeps a*b+c two roundings
 * (-ffp-contract=off), so a kernel computes the same bits wherever it runs.
 */
#ifndef UNDERSTUDY_NODE_H
#define UNDERSTUDY_NODE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The node protocol version this library speaks. */
#define USN_PROTOCOL_VERSION 1

/* Bounds of a kind's declaration. */
#define USN_MAX_PORTS 64
#define USN_MAX_PARAMS 64
#define USN_MAX_STATE (1 << 20)

/* One parameter of a kind: every parameter is a number, as in Go kinds. */
typedef struct {
	const char *name; /* 1 to 64 bytes: ASCII letters, digits, '_', '-', '.' */
	const char *doc;
	double min, max;  /* inclusive bounds */
	double def;       /* the value when absent; unused if required */
	int required;     /* the parameter must be given */
	int integer;      /* the value must be a whole number */
} usn_param;

/*
 * A kind of node. The engine checks parameters against params (bounds,
 * required, whole numbers, unknown names) before the program sees them.
 *
 * init builds the kernel for a sample rate and the parameters (p[i] is
 * params[i]'s value, defaults filled in) into self (self_size bytes,
 * zeroed): coefficients, tables. It returns NULL, or the reason the values
 * cannot work together with *bad set to the parameter's index (-1: the
 * rate). It runs when the engine checks the graph and again in each
 * process, before the first block: it may allocate.
 *
 * process computes one block of frames frames: in[k] and out[k] are the
 * blocks of each port; state (state_size bytes) is the state as of the
 * block's start, which process updates in place to the state at its end.
 * All zero bytes is the initial state. The outputs and the new state must
 * depend only on state, the inputs and what init built: a spare that
 * takes over recomputes the block from the last committed state, and its
 * output must be the same bits. No allocation, no system call, no lock.
 * Any state bytes at all must be accepted (they are read from shared
 * memory): wrap an out-of-range value back into range.
 */
typedef struct {
	const char *name; /* for messages */
	int inputs, outputs;
	size_t state_size;
	const usn_param *params;
	int nparams;
	size_t self_size;
	const char *(*init)(void *self, int rate, const double *p, int *bad);
	void (*process)(const void *self, uint8_t *state, const float *const *in, float *const *out, int frames);
} usn_kind;

/*
 * usn_main runs the program as the engine asks (argv[1] names the mode:
 * --understudy-describe, --understudy-check, --understudy-offline,
 * --understudy-node) and returns the status for main to return. Anything
 * else prints a usage line and returns 2.
 */
int usn_main(const usn_kind *k, int argc, char **argv);

/* Little-endian state accessors: state bytes are the same on every
 * machine, at any alignment. */
double usn_get_f64(const uint8_t *b);
void usn_put_f64(uint8_t *b, double v);
float usn_get_f32(const uint8_t *b);
void usn_put_f32(uint8_t *b, float v);
uint32_t usn_get_u32(const uint8_t *b);
void usn_put_u32(uint8_t *b, uint32_t v);

#ifdef __cplusplus
}
#endif

#endif /* UNDERSTUDY_NODE_H */
