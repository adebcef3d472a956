package audio

import (
	"fmt"
	"math"
	"strings"
)

// CompareOptions tunes [Compare]. The zero value suits renders of the test
// signal: the frame counter on channel 0.
type CompareOptions struct {
	// CounterChannel is the channel carrying a frame counter (n mod 2^24,
	// as the test signal's channel 0 does).
	CounterChannel int
	// NoCounter skips the counter checks, for renders without a counter.
	NoCounter bool
}

// A GlitchReport is what [Compare] finds between a reference render and
// another. Frames are counted from 0 in each render.
type GlitchReport struct {
	Channels        int
	ReferenceFrames int
	Frames          int // frames in the render compared to the reference

	// Identical is true when both renders have the same length and every
	// sample has the same bits (so NaNs compare equal and 0 differs from -0).
	Identical bool
	// DiffSamples counts samples whose bits differ, plus every sample of the
	// frames one render has past the end of the other.
	DiffSamples int
	// FirstDiffFrame and FirstDiffChannel locate the first differing sample;
	// both are -1 when Identical.
	FirstDiffFrame, FirstDiffChannel int

	// CounterChecked is false when CompareOptions.NoCounter was set; the
	// counter fields below are then zero.
	CounterChecked bool
	// CounterBreak is the first frame whose counter is not the previous
	// frame's plus one (mod 2^24), or not a whole number in
	// [0, 2^24); -1 when the counter runs on unbroken.
	CounterBreak int
	// CounterBefore and CounterAt are the counter values at CounterBreak-1
	// and CounterBreak.
	CounterBefore, CounterAt float32
	// LatencyKnown is true when both renders hold two consecutive counter
	// values somewhere, so their alignment can be measured.
	LatencyKnown bool
	// Latency is how many frames later the render carries the counter
	// values than the reference does: 0 when aligned, positive when late.
	Latency int
	// GlitchFree: the render is indistinguishable from the reference:
	// identical, and when the counter was checked, unbroken and at
	// latency 0.
	GlitchFree bool
}

// Compare compares got with reference, both interleaved with the given
// number of channels, sample by sample and, unless opts.NoCounter, by their
// frame counters: whether got's counter runs on unbroken, and how far got is
// shifted in time against the reference (its latency). It fails, wrapping
// [ErrInvalidWAV], when channels is below 1, a render is not a whole number
// of frames, or the counter channel does not exist.
func Compare(reference, got []float32, channels int, opts CompareOptions) (GlitchReport, error) {
	switch {
	case channels < 1:
		return GlitchReport{}, fieldErr(ErrInvalidWAV, "channels", channels, "must be at least 1")
	case len(reference)%channels != 0:
		return GlitchReport{}, fieldErr(ErrInvalidWAV, "len(reference)", len(reference),
			"not a whole number of %d-channel frames", channels)
	case len(got)%channels != 0:
		return GlitchReport{}, fieldErr(ErrInvalidWAV, "len(got)", len(got),
			"not a whole number of %d-channel frames", channels)
	case !opts.NoCounter && (opts.CounterChannel < 0 || opts.CounterChannel >= channels):
		return GlitchReport{}, fieldErr(ErrInvalidWAV, "CounterChannel", opts.CounterChannel,
			"want 0..%d", channels-1)
	}
	r := GlitchReport{
		Channels:         channels,
		ReferenceFrames:  len(reference) / channels,
		Frames:           len(got) / channels,
		FirstDiffFrame:   -1,
		FirstDiffChannel: -1,
	}
	common := min(len(reference), len(got))
	for i := range common {
		if math.Float32bits(reference[i]) != math.Float32bits(got[i]) {
			if r.DiffSamples == 0 {
				r.FirstDiffFrame, r.FirstDiffChannel = i/channels, i%channels
			}
			r.DiffSamples++
		}
	}
	if extra := max(len(reference), len(got)) - common; extra > 0 {
		if r.DiffSamples == 0 {
			r.FirstDiffFrame, r.FirstDiffChannel = common/channels, 0
		}
		r.DiffSamples += extra
	}
	r.Identical = r.DiffSamples == 0

	if opts.NoCounter {
		r.GlitchFree = r.glitchFree()
		return r, nil
	}
	r.CounterChecked = true
	c := opts.CounterChannel
	r.CounterBreak = -1
	for f := 1; f < r.Frames; f++ {
		before, at := got[(f-1)*channels+c], got[f*channels+c]
		if !counterFollows(before, at) {
			r.CounterBreak, r.CounterBefore, r.CounterAt = f, before, at
			break
		}
	}
	refOrigin, okRef := counterOrigin(reference, channels, c)
	gotOrigin, okGot := counterOrigin(got, channels, c)
	if okRef && okGot {
		r.LatencyKnown = true
		// Counters wrap, so the shift is only known mod counterModulus; take
		// the representative nearest 0.
		d := (gotOrigin - refOrigin) % counterModulus
		if d >= counterModulus/2 {
			d -= counterModulus
		} else if d < -counterModulus/2 {
			d += counterModulus
		}
		r.Latency = int(d)
	}
	r.GlitchFree = r.glitchFree()
	return r, nil
}

// glitchFree reports whether the render is indistinguishable from the
// reference: identical, and when the counter was checked, unbroken and at
// latency 0.
func (r GlitchReport) glitchFree() bool {
	if !r.Identical {
		return false
	}
	return !r.CounterChecked || (r.CounterBreak < 0 && r.LatencyKnown && r.Latency == 0)
}

// String returns a report for people, one finding a line.
func (r GlitchReport) String() string {
	var b strings.Builder
	if r.Identical {
		fmt.Fprintf(&b, "identical: yes, %d frames x %d channels\n", r.Frames, r.Channels)
	} else {
		fmt.Fprintf(&b, "identical: no, %d of %d samples differ, the first at frame %d channel %d\n",
			r.DiffSamples, max(r.ReferenceFrames, r.Frames)*r.Channels, r.FirstDiffFrame, r.FirstDiffChannel)
		if r.ReferenceFrames != r.Frames {
			fmt.Fprintf(&b, "length: %d frames, reference %d\n", r.Frames, r.ReferenceFrames)
		}
	}
	if !r.CounterChecked {
		b.WriteString("counter: not checked\n")
		return b.String()
	}
	if r.CounterBreak < 0 {
		b.WriteString("counter: continuous\n")
	} else {
		fmt.Fprintf(&b, "counter: breaks at frame %d: %s then %s\n",
			r.CounterBreak, formatValue(r.CounterBefore), formatValue(r.CounterAt))
	}
	if r.LatencyKnown {
		fmt.Fprintf(&b, "latency: %d frames\n", r.Latency)
	} else {
		b.WriteString("latency: unknown, no two consecutive counter values in both renders\n")
	}
	return b.String()
}

// counterValue returns v as a counter value, if it is one: a whole number in
// [0, counterModulus).
func counterValue(v float32) (int64, bool) {
	if !(v >= 0 && v < counterModulus) || v != float32(math.Trunc(float64(v))) {
		return 0, false
	}
	return int64(v), true
}

// counterFollows reports whether at is the counter value after before.
func counterFollows(before, at float32) bool {
	b, okB := counterValue(before)
	a, okA := counterValue(at)
	return okB && okA && a == (b+1)%counterModulus
}

// counterOrigin returns the frame at which the render's counter was (or
// would have been) 0, judged at the first two consecutive counter values,
// so that silence or garbage before the counter starts does not count.
func counterOrigin(render []float32, channels, c int) (int64, bool) {
	frames := len(render) / channels
	for f := 0; f+1 < frames; f++ {
		if counterFollows(render[f*channels+c], render[(f+1)*channels+c]) {
			v, _ := counterValue(render[f*channels+c])
			return int64(f) - v, true
		}
	}
	return 0, false
}
