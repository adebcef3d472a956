package audio

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

func TestRegistryNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kind   string
		rate   int
		params Params
		err    error
		field  string
		msg    string // the whole message, where it is worth pinning
	}{
		{name: "unknown kind", kind: "reverb", rate: 48000, err: ErrInvalidGraph, field: "kind",
			msg: `audio: invalid graph: kind = "reverb": not registered (known: bandpass, delay, gain, highpass, lowpass, mixer, peak, sine, testsignal)`},
		{name: "zero rate", kind: "gain", rate: 0, err: ErrInvalidGraph, field: "rate"},
		{name: "unknown param", kind: "sine", rate: 48000, params: Params{"freq": 1, "frequency": 2}, err: ErrInvalidGraph,
			field: "frequency", msg: `audio: invalid graph: frequency = 2: unknown parameter (known: freq, amp)`},
		{name: "param of a kind without any", kind: "testsignal", rate: 48000, params: Params{"x": 1}, err: ErrInvalidGraph,
			field: "x", msg: `audio: invalid graph: x = 1: unknown parameter (known: none)`},
		{name: "missing", kind: "sine", rate: 48000, params: Params{"amp": 1}, err: ErrInvalidGraph, field: "freq",
			msg: `audio: invalid graph: freq: required`},
		{name: "NaN", kind: "gain", rate: 48000, params: Params{"gain": math.NaN()}, err: ErrInvalidGraph, field: "gain"},
		{name: "infinite", kind: "sine", rate: 48000, params: Params{"freq": math.Inf(1)}, err: ErrInvalidGraph, field: "freq"},
		{name: "above max", kind: "sine", rate: 48000, params: Params{"freq": 440, "amp": 1.5}, err: ErrInvalidGraph,
			field: "amp", msg: `audio: invalid graph: amp = 1.5: out of range [0, 1]`},
		{name: "below min", kind: "delay", rate: 48000, params: Params{"samples": 0}, err: ErrInvalidGraph, field: "samples"},
		{name: "delay too long", kind: "delay", rate: 48000, params: Params{"samples": maxDelaySamples + 1},
			err: ErrInvalidGraph, field: "samples"},
		{name: "not whole", kind: "delay", rate: 48000, params: Params{"samples": 2.5}, err: ErrInvalidGraph,
			field: "samples", msg: `audio: invalid graph: samples = 2.5: must be a whole number`},
		{name: "at Nyquist", kind: "lowpass", rate: 48000, params: Params{"freq": 24000}, err: ErrInvalidGraph,
			field: "freq", msg: `audio: invalid graph: freq = 24000: must be above 0 and below rate/2 = 24000`},
		{name: "zero freq", kind: "sine", rate: 48000, params: Params{"freq": 0}, err: ErrInvalidGraph, field: "freq"},
		{name: "q too low", kind: "peak", rate: 48000, params: Params{"freq": 1000, "q": 0}, err: ErrInvalidGraph, field: "q"},
		{name: "gain_db too high", kind: "peak", rate: 48000, params: Params{"freq": 1000, "gain_db": 60},
			err: ErrInvalidGraph, field: "gain_db"},
		{name: "mixer without inputs", kind: "mixer", rate: 48000, params: Params{"gain0": 1}, err: ErrInvalidGraph,
			field: "inputs"},
		{name: "mixer gain past its inputs", kind: "mixer", rate: 48000, params: Params{"inputs": 2, "gain2": 1},
			err: ErrInvalidGraph, field: "gain2", msg: `audio: invalid graph: gain2 = 1: no such input (inputs = 2)`},
		{name: "mixer gain past them all", kind: "mixer", rate: 48000, params: Params{"inputs": 2, "gain64": 1},
			err: ErrInvalidGraph, field: "gain64"},
		{name: "testsignal rate too low", kind: "testsignal", rate: 1994, err: ErrInvalidGraph, field: "rate"},
		{name: "testsignal rate too high", kind: "testsignal", rate: maxDelaySamples + 1, err: ErrInvalidGraph,
			field: "rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := builtin().build(tc.kind, tc.rate, tc.params)
			require.ErrorIs(t, err, tc.err)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
			if tc.msg != "" {
				assert.EqualError(t, err, tc.msg)
			}
		})
	}
}

func TestRegistryBuildsPorts(t *testing.T) {
	for _, tc := range []struct {
		kind         string
		params       Params
		inputs, outs int
		state        int
	}{
		{"sine", Params{"freq": 1}, 0, 1, 8},
		{"gain", nil, 1, 1, 0},
		{"mixer", Params{"inputs": 5}, 5, 1, 0},
		{"mixer", Params{"inputs": maxMixerInputs, "gain63": 0}, maxMixerInputs, 1, 0},
		{"delay", Params{"samples": 48000}, 1, 1, 4 + 4*48000},
		{"lowpass", Params{"freq": 1}, 1, 1, 16},
		{"peak", Params{"freq": 1}, 1, 1, 16},
		{"testsignal", nil, 0, 3, 20 + 4*48000},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			p := newKernel(t, tc.kind, 48000, tc.params)
			assert.Equal(t, tc.inputs, p.Inputs())
			assert.Equal(t, tc.outs, p.Outputs())
			assert.Equal(t, tc.state, p.StateSize())
		})
	}
}

func TestRegisterErrors(t *testing.T) {
	newNop := func(int, Params) (Processor, error) { return gain{g: 1}, nil }
	for _, tc := range []struct {
		name  string
		kind  Kind
		field string
	}{
		{"empty name", Kind{New: newNop}, "Kind.Name"},
		{"name with a space", Kind{Name: "my kind", New: newNop}, "Kind.Name"},
		{"taken name", Kind{Name: "sine", New: newNop}, "Kind.Name"},
		{"no constructor", Kind{Name: "k"}, "Kind.New"},
		{"unnamed param", Kind{Name: "k", New: newNop, Params: []ParamSpec{{Max: 1}}}, "Kind.Params[0].Name"},
		{"repeated param", Kind{Name: "k", New: newNop, Params: []ParamSpec{{Name: "a"}, {Name: "a"}}},
			"Kind.Params[1].Name"},
		{"min above max", Kind{Name: "k", New: newNop, Params: []ParamSpec{{Name: "a", Min: 1, Max: 0}}},
			"Kind.Params[0].Min"},
		{"NaN bound", Kind{Name: "k", New: newNop, Params: []ParamSpec{{Name: "a", Min: math.NaN(), Max: 0}}},
			"Kind.Params[0].Min"},
		{"default out of range", Kind{Name: "k", New: newNop, Params: []ParamSpec{{Name: "a", Min: 1, Max: 2}}},
			"Kind.Params[0].Default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := builtin().register(tc.kind)
			require.ErrorIs(t, err, ErrInvalidGraph)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
}

func TestRegistryZeroValue(t *testing.T) {
	var r registry
	assert.Empty(t, r.names())
	_, err := r.build("gain", 48000, nil)
	require.ErrorIs(t, err, ErrInvalidGraph)
	assert.EqualError(t, err, `audio: invalid graph: kind = "gain": not registered (known: none)`)

	custom := Kind{
		Name:   "invert",
		Params: []ParamSpec{{Name: "by", Min: 1, Max: 1, Required: true}},
		New: func(_ int, p Params) (Processor, error) {
			return gain{g: -p["by"]}, nil
		},
	}
	require.NoError(t, r.register(custom))
	assert.Equal(t, []string{"invert"}, r.names())
	k, ok := r.lookup("invert")
	require.True(t, ok)
	assert.Equal(t, "invert", k.Name)
	p, err := r.build("invert", 48000, Params{"by": 1})
	require.NoError(t, err)
	assert.Equal(t, []float32{-3}, run(t, p, [][]float32{{3}}, 1)[0])
}

func TestRegistryKindErrorsPassThrough(t *testing.T) {
	errBroken := errors.New("broken")
	var r registry
	require.NoError(t, r.register(Kind{Name: "broken", New: func(int, Params) (Processor, error) {
		return nil, errBroken
	}}))
	_, err := r.build("broken", 48000, nil)
	assert.ErrorIs(t, err, errBroken)
}

func TestBuiltinRegistriesAreSeparate(t *testing.T) {
	a := builtin()
	require.NoError(t, a.register(Kind{Name: "extra", New: func(int, Params) (Processor, error) { return gain{}, nil }}))
	_, ok := builtin().lookup("extra")
	assert.False(t, ok)
	_, ok = defaultKinds.lookup("extra")
	assert.False(t, ok)
}
