package audio

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Params holds a node's parameters by name. Every parameter is a number;
// kinds that need a choice among a few behaviours are registered as separate
// kinds (lowpass, highpass, …) rather than taking a string.
type Params map[string]float64

// A ParamSpec declares one parameter of a [Kind].
type ParamSpec struct {
	Name     string
	Doc      string
	Min, Max float64 // inclusive bounds
	Default  float64 // the value when the parameter is absent; unused if Required
	Required bool    // the parameter must be given
	Integer  bool    // the value must be a whole number
}

// A Kind is a kind of processor, known by its name: the kinds this package
// holds (see the package documentation) and those added with
// [RegisterKind].
type Kind struct {
	Name   string
	Doc    string
	Params []ParamSpec
	// New builds a Processor for the sample rate (at least 1). It is called
	// with every declared parameter present, each finite, within its
	// bounds and whole where Integer is set, defaults filled in. New
	// checks what depends on the rate or on several parameters, and
	// reports a problem as a *procbridge.SpecError whose Field is the
	// parameter's name, or "rate" (its Err may be nil); any other error
	// is reported as it is, with the node named.
	New func(rate int, p Params) (Processor, error)
	// Check, when set, is called before New with only the parameters the
	// node gave, each already within its bounds, for rules that depend on
	// what was given rather than on values: a mixer's gain<i> must not be
	// given for i at or past its inputs. It reports as New does.
	Check func(given Params) error
}

// A registry maps kind names to kinds. The zero value is an empty registry
// ready to use; builtin returns one holding this package's kinds, and
// defaultKinds is the process-wide one every Graph uses and an Engine's
// node processes build their kernels from. A registry is safe for
// concurrent use.
type registry struct {
	mu    sync.RWMutex
	kinds map[string]Kind
	// sealed, on the default registry only: an engine has started, so a
	// kind registered now would be unknown to its node processes.
	sealed bool
}

// register adds k. It fails, wrapping ErrInvalidGraph, when k's name is
// taken or not a valid name (see Node), when New is nil, or when a
// parameter spec is unnamed, repeated, has Min > Max or a Default out of
// bounds; and, on defaultKinds, after the first Start.
func (r *registry) register(k Kind) error {
	if err := checkName(k.Name); err != nil {
		return fieldErr(ErrInvalidGraph, "Kind.Name", k.Name, "%s", err)
	}
	if k.Name == execKind {
		return fieldErr(ErrInvalidGraph, "Kind.Name", k.Name, "reserved for nodes served by an executable (Node.Path)")
	}
	if k.New == nil {
		return fieldErr(ErrInvalidGraph, "Kind.New", "nil", "kind %q has no constructor", k.Name)
	}
	seen := make(map[string]bool, len(k.Params))
	for i, s := range k.Params {
		field := fmt.Sprintf("Kind.Params[%d]", i)
		switch {
		case s.Name == "" || seen[s.Name]:
			return fieldErr(ErrInvalidGraph, field+".Name", s.Name, "kind %q: empty or repeated", k.Name)
		case !(s.Min <= s.Max):
			return fieldErr(ErrInvalidGraph, field+".Min", s.Min, "kind %q: above Max = %g", k.Name, s.Max)
		case !s.Required && !(s.Default >= s.Min && s.Default <= s.Max):
			return fieldErr(ErrInvalidGraph, field+".Default", s.Default,
				"kind %q: outside [%g, %g]", k.Name, s.Min, s.Max)
		}
		seen[s.Name] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sealed {
		return fieldErr(ErrInvalidGraph, "Kind.Name", k.Name,
			"registered after an engine started: node processes are this program re-executed, and know only the kinds "+
				"registered while it initialises; call RegisterKind from init() or a package-level var")
	}
	if _, dup := r.kinds[k.Name]; dup {
		return fieldErr(ErrInvalidGraph, "Kind.Name", k.Name, "already registered")
	}
	if r.kinds == nil {
		r.kinds = make(map[string]Kind)
	}
	k.Params = slices.Clone(k.Params)
	r.kinds[k.Name] = k
	return nil
}

// lookup returns the kind registered under name.
func (r *registry) lookup(name string) (Kind, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.kinds[name]
	return k, ok
}

// names returns the registered kind names in sorted order.
func (r *registry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// build checks p against the parameter specs of the named kind and builds a
// Processor for the sample rate. An unregistered kind, a rate below 1, or a
// parameter that is unknown, missing, not finite, out of bounds or not
// whole gives a *procbridge.SpecError wrapping ErrInvalidGraph whose Field
// is "kind", "rate" or the parameter. Problems are reported one at a time,
// the first in a fixed order.
func (r *registry) build(kind string, rate int, p Params) (Processor, error) {
	k, ok := r.lookup(kind)
	if !ok {
		return nil, r.unknownKind(kind)
	}
	if rate < 1 {
		return nil, fieldErr(ErrInvalidGraph, "rate", rate, "must be at least 1")
	}
	full, err := k.check(p)
	if err != nil {
		return nil, err
	}
	if k.Check != nil {
		if err := k.Check(p); err != nil {
			return nil, err
		}
	}
	return k.New(rate, full)
}

// unknownKind reports that no kind is registered under name.
func (r *registry) unknownKind(name string) error {
	return fieldErr(ErrInvalidGraph, "kind", name, "not registered (known: %s)", listOrNone(r.names()))
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// check validates p against k's specs and returns a copy with defaults.
func (k Kind) check(p Params) (Params, error) {
	var unknown []string
	for name := range p {
		if !slices.ContainsFunc(k.Params, func(s ParamSpec) bool { return s.Name == name }) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		known := make([]string, len(k.Params))
		for i, s := range k.Params {
			known[i] = s.Name
		}
		return nil, fieldErr(ErrInvalidGraph, unknown[0], p[unknown[0]], "unknown parameter (known: %s)",
			listOrNone(known))
	}
	full := make(Params, len(k.Params))
	for _, s := range k.Params {
		v, ok := p[s.Name]
		switch {
		case !ok && s.Required:
			return nil, fieldErr(ErrInvalidGraph, s.Name, nil, "required")
		case !ok:
			v = s.Default
		case math.IsNaN(v) || math.IsInf(v, 0):
			return nil, fieldErr(ErrInvalidGraph, s.Name, v, "must be finite")
		case v < s.Min || v > s.Max:
			return nil, fieldErr(ErrInvalidGraph, s.Name, v, "out of range [%g, %g]", s.Min, s.Max)
		case s.Integer && v != math.Trunc(v):
			return nil, fieldErr(ErrInvalidGraph, s.Name, v, "must be a whole number")
		}
		full[s.Name] = v
	}
	return full, nil
}

// builtin returns a new registry holding this package's kinds:
//
//	sine        0 in, 1 out   freq (Hz, required), amp (default 1)
//	gain        1 in, 1 out   gain (linear, default 1, at most 16)
//	mixer       N in, 1 out   inputs (N, required, at most 64), gain0 … gain63 (default 1)
//	delay       1 in, 1 out   samples (required, 1 … 192000)
//	lowpass     1 in, 1 out   freq (Hz, required), q (default 1/√2)
//	highpass    1 in, 1 out   freq, q
//	bandpass    1 in, 1 out   freq, q (0 dB peak gain)
//	peak        1 in, 1 out   freq, q, gain_db (default 0)
//	testsignal  0 in, 3 out   no parameters (see the package documentation)
//
// Each call returns a separate registry.
func builtin() *registry {
	r := new(registry)
	for _, k := range []Kind{sineKind, gainKind, mixerKind(), delayKind,
		biquadKind(lowpass), biquadKind(highpass), biquadKind(bandpass), biquadKind(peak),
		testSignalKind} {
		if err := r.register(k); err != nil {
			panic(err) // a bug in this package's own kinds, caught by every test
		}
	}
	return r
}

// defaultKinds is the registry every Graph uses: the builtin kinds and
// every kind registered with RegisterKind.
var defaultKinds = builtin()

// builtinNames are the kinds of builtin, which every node process knows
// (this package's init registers them).
var builtinNames = defaultKinds.names()

// RegisterKind adds k to the kinds every Graph can name, beside this
// package's own, so that graphs run by an [Engine] can use it. It fails,
// wrapping [ErrInvalidGraph], when k's name is taken, is exec (the kind of
// nodes served by an executable, Node.Path) or is not a valid name (see
// [Node]), when New is nil, or when a parameter spec is unnamed, repeated,
// has Min > Max or a Default out of bounds.
//
// Call it while the program initialises: from an init function or a
// package-level variable's initialiser, in a package the program links,
// never from main. An engine's node processes are this program
// re-executed (worker.Main at the top of main runs the node and exits), so
// they know exactly the kinds that package initialisation registers: a kind
// registered later, in main, exists in the engine's process and not in its
// nodes'. Two checks catch the mistake:
//
//   - RegisterKind after the first [Start] in this process fails, wrapping
//     [ErrInvalidGraph];
//   - a node process that meets a kind it does not know prints what
//     happened and exits, and Start fails with an error wrapping
//     [ErrInvalidGraph] that names the node and the kinds concerned.
//
// For example, in the package that defines the kind:
//
//	func init() {
//		if err := audio.RegisterKind(invertKind); err != nil {
//			panic(err) // a programming error, found the first time the program runs
//		}
//	}
func RegisterKind(k Kind) error { return defaultKinds.register(k) }

// seal refuses further registrations: an engine is starting.
func (r *registry) seal() {
	r.mu.Lock()
	r.sealed = true
	r.mu.Unlock()
}

// checkFreq reports whether freq lies strictly between 0 and rate/2.
func checkFreq(kind string, rate int, freq float64) error {
	if nyquist := float64(rate) / 2; !(freq > 0 && freq < nyquist) {
		return fieldErr(ErrInvalidGraph, "freq", freq, "must be above 0 and below rate/2 = %g", nyquist)
	}
	return nil
}
