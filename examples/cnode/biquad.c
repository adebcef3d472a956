/*
 * biquad: a DSP node written in C, a second-order lowpass (the RBJ Audio EQ
 * Cookbook's, as the engine's own lowpass kind), run by the audio engine
 * as a node of a graph with hot spares, from the graph file that names it:
 *
 *     - {name: lp, kind: exec, path: ./biquad, params: {freq: 1000}}
 *
 * Build it from the repository's root:
 *
 *     cc -std=c11 -O2 -pthread -I sdk/c -o examples/cnode/biquad \
 *         examples/cnode/biquad.c sdk/c/understudy_node.c sdk/c/understudy.c -lm
 */
#include "understudy_node.h"

#include <math.h>
#include <stdio.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* The coefficients, normalised by a0: what init builds, fixed for the
 * node's life. */
typedef struct {
	double b0, b1, b2, a1, a2;
} biquad;

static const usn_param params[] = {
	{.name = "freq", .doc = "corner frequency in Hz, above 0 and below rate/2", .min = 0, .max = 1e9, .required = 1},
	{.name = "q", .doc = "quality factor", .min = 0.1, .max = 100, .def = 0.70710678118654752},
};

static const char *init(void *self, int rate, const double *p, int *bad)
{
	static char why[64];
	double freq = p[0], q = p[1];
	if (!(freq > 0 && freq < rate / 2.0)) {
		*bad = 0;
		snprintf(why, sizeof why, "must be above 0 and below rate/2 = %g", rate / 2.0);
		return why;
	}
	double w0 = 2 * M_PI * freq / rate;
	double cosw = cos(w0), sinw = sin(w0);
	double alpha = sinw / (2 * q);
	double a0 = 1 + alpha;
	biquad *f = self;
	f->b0 = (1 - cosw) / 2 / a0;
	f->b1 = (1 - cosw) / a0;
	f->b2 = (1 - cosw) / 2 / a0;
	f->a1 = -2 * cosw / a0;
	f->a2 = (1 - alpha) / a0;
	return NULL;
}

/* State (16 bytes): z1 and z2, float64, the memory of a transposed direct
 * form II section. */
static void process(const void *self, uint8_t *state, const float *const *in, float *const *out, int frames)
{
	const biquad *f = self;
	double z1 = usn_get_f64(state), z2 = usn_get_f64(state + 8);
	const float *x = in[0];
	float *y = out[0];
	for (int i = 0; i < frames; i++) {
		double xi = x[i];
		double yi = f->b0 * xi + z1;
		z1 = f->b1 * xi - f->a1 * yi + z2;
		z2 = f->b2 * xi - f->a2 * yi;
		y[i] = (float)yi;
	}
	usn_put_f64(state, z1);
	usn_put_f64(state + 8, z2);
}

static const usn_kind kind = {
	.name = "biquad",
	.inputs = 1,
	.outputs = 1,
	.state_size = 16,
	.params = params,
	.nparams = 2,
	.self_size = sizeof(biquad),
	.init = init,
	.process = process,
};

int main(int argc, char **argv) { return usn_main(&kind, argc, argv); }
