package spec

import (
	"fmt"
	"github.com/understudy/understudy/supervision"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scalars of the spec file. Each reports a value of the wrong type or form
// at its node and returns ok = false.

// str reads a string. A number or boolean where a string is wanted is an
// error: quoting it is the fix.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	n = d.deref(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			hint = "quote it: \"" + n.Value + "\""
		}
		d.fail(n, path, hint, "want a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// anyScalar reads any scalar as written: args and env values may be
// numbers or booleans (8080, true) and mean their text.
func (d *decoder) anyScalar(n *yaml.Node, path string) (string, bool) {
	n = d.deref(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.fail(n, path, "", "want a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// scalarList reads a list of scalars (what names it in errors).
func (d *decoder) scalarList(n *yaml.Node, path, what string) ([]string, bool) {
	n = d.deref(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && strings.ContainsRune(n.Value, ' ') {
			hint = "a list is not split on spaces: write [" + strings.Join(strings.Fields(n.Value), ", ") + "]"
		}
		d.fail(n, path, hint, "want %s, got %s", what, describe(n))
		return nil, false
	}
	out := make([]string, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		s, good := d.anyScalar(item, fmt.Sprintf("%s[%d]", path, i))
		ok = ok && good
		out = append(out, s)
	}
	return out, ok
}

// boolean reads true or false.
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	n = d.deref(n)
	if n == nil {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		hint := ""
		switch strings.ToLower(n.Value) {
		case "yes", "on", "y", "1", "true":
			hint = "write true"
		case "no", "off", "n", "0", "false":
			hint = "write false"
		}
		d.fail(n, path, hint, "want true or false, got %s", describe(n))
		return false, false
	}
	var b bool
	if err := n.Decode(&b); err != nil {
		d.fail(n, path, "", "want true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

// integer reads a whole number.
func (d *decoder) integer(n *yaml.Node, path string) (int64, bool) {
	n = d.deref(n)
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		hint := ""
		if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
			if _, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
				hint = "remove the quotes"
			}
		}
		d.fail(n, path, hint, "want a whole number, got %s", describe(n))
		return 0, false
	}
	var i int64
	if err := n.Decode(&i); err != nil {
		d.fail(n, path, "", "%s is out of range", n.Value)
		return 0, false
	}
	return i, true
}

// number reads a finite number.
func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	n = d.deref(n)
	if n == nil {
		return 0, false
	}
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || tag != "!!int" && tag != "!!float" {
		hint := ""
		if n.Kind == yaml.ScalarNode && tag == "!!str" {
			if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
				hint = "remove the quotes"
			}
		}
		d.fail(n, path, hint, "want a number, got %s", describe(n))
		return 0, false
	}
	var f float64
	if err := n.Decode(&f); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		d.fail(n, path, "", "want a finite number, got %s", n.Value)
		return 0, false
	}
	return f, true
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Durations. The file takes Go's syntax (time.ParseDuration): a number and
// a unit, ns, us (or µs), ms, s, m or h, several run together ("1h30m"),
// with a fraction ("1.5s") and a sign. Decided and documented in
// docs/spec-reference.md:
//
//   - no space inside ("5 ms" is an error whose hint is "write 5ms"), so a
//     file has one spelling of each value, the one Marshal writes;
//   - no exponent ("5e-3s" is an error whose hint is "write 5ms");
//   - no bare number: 5 is an error whose hint is "add a unit: 5ms or 5s";
//     only 0 may go without a unit;
//   - no other units ("10d", "5min", "2sec"); the hint gives the value in
//     Go's units when it can ("10d" is 240h).

var (
	exponentRE = regexp.MustCompile(`^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+)(ns|us|µs|μs|ms|s|m|h)$`)
	unitRE     = regexp.MustCompile(`^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([A-Za-zµμ]+)$`)
)

// unitAliases maps units people write to Go's, with a factor.
var unitAliases = map[string]time.Duration{
	"sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"msec": time.Millisecond, "msecs": time.Millisecond, "millis": time.Millisecond,
	"usec": time.Microsecond, "usecs": time.Microsecond, "nsec": time.Nanosecond,
	"hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"S": time.Second, "MS": time.Millisecond, "Ms": time.Millisecond, "H": time.Hour, "M": time.Minute,
}

const durationUnits = "a number and a unit: ns, us, ms, s, m or h"

// duration reads a duration (see above).
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	n = d.deref(n)
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "", "want a duration such as 250ms or 5s, got %s", describe(n))
		return 0, false
	}
	switch tag := n.ShortTag(); tag {
	case "!!int", "!!float":
		if v, err := strconv.ParseFloat(n.Value, 64); err == nil && v == 0 {
			return 0, true
		}
		d.fail(n, path, "add a unit: "+n.Value+"ms or "+n.Value+"s", "%s has no unit", n.Value)
		return 0, false
	case "!!str":
	default:
		d.fail(n, path, "", "want a duration such as 250ms or 5s, got %s", describe(n))
		return 0, false
	}
	t, msg, hint := parseDuration(n.Value)
	if msg != "" {
		d.fail(n, path, hint, "%s", msg)
		return 0, false
	}
	return t, true
}

// parseDuration parses s, or says what is wrong with it and how to fix it.
func parseDuration(s string) (t time.Duration, msg, hint string) {
	q := strconv.Quote(s)
	if s == "" {
		return 0, "empty duration", "such as 250ms or 5s"
	}
	if strings.ContainsAny(s, " \t") {
		compact := strings.Join(strings.Fields(s), "")
		if t, err := time.ParseDuration(compact); err == nil {
			return 0, q + ": a space inside a duration", "write " + formatDuration(t)
		}
		if m := unitRE.FindStringSubmatch(compact); m != nil {
			if f, ok := unitAliases[m[2]]; ok {
				if v, err := strconv.ParseFloat(m[1], 64); err == nil {
					return 0, q + " is not a duration", "write " + formatDuration(time.Duration(v*float64(f)))
				}
			}
		}
		return 0, q + " is not a duration", durationUnits + ", such as 250ms or 1m30s"
	}
	if t, err := time.ParseDuration(s); err == nil {
		return t, "", ""
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, q + " has no unit", "add a unit: " + s + "ms or " + s + "s"
	}
	if m := exponentRE.FindStringSubmatch(s); m != nil {
		v, err := strconv.ParseFloat(m[1], 64)
		unit, _ := time.ParseDuration("1" + m[2])
		if err == nil && !math.IsInf(v*float64(unit), 0) && math.Abs(v*float64(unit)) < math.MaxInt64 {
			return 0, q + ": exponents are not accepted in durations", "write " + formatDuration(time.Duration(math.Round(v*float64(unit))))
		}
		return 0, q + ": exponents are not accepted in durations", durationUnits
	}
	if m := unitRE.FindStringSubmatch(s); m != nil {
		if f, ok := unitAliases[m[2]]; ok {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil && math.Abs(v*float64(f)) < math.MaxInt64 {
				return 0, q + ": unknown unit '" + m[2] + "'", "write " + formatDuration(time.Duration(v*float64(f)))
			}
		}
		return 0, q + ": unknown unit '" + m[2] + "'", durationUnits
	}
	return 0, q + " is not a duration", durationUnits + ", such as 250ms or 1m30s"
}

// Sizes: a whole number of bytes, or a string with a binary unit: B, KiB,
// MiB, GiB ("64KiB"). Decimal units (KB, MB) are errors whose hint gives
// the binary spelling, since the sizes are memory.

var sizeRE = regexp.MustCompile(`^([0-9]+)([A-Za-z]*)$`)

var sizeUnits = map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

// size reads a size in bytes.
func (d *decoder) size(n *yaml.Node, path string) (int64, bool) {
	n = d.deref(n)
	if n == nil {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "", "want a size such as 4096 or 64KiB, got %s", describe(n))
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		v, ok := d.integer(n, path)
		if ok && v < 0 {
			d.fail(n, path, "", "%d must not be negative", v)
			return 0, false
		}
		return v, ok
	case "!!str":
	default:
		d.fail(n, path, "", "want a size such as 4096 or 64KiB, got %s", describe(n))
		return 0, false
	}
	s := n.Value
	if strings.ContainsAny(s, " \t") {
		d.fail(n, path, "write "+strings.Join(strings.Fields(s), ""), "%q: a space inside a size", s)
		return 0, false
	}
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		d.fail(n, path, "a whole number of bytes, or with B, KiB, MiB or GiB", "%q is not a size", s)
		return 0, false
	}
	unit, ok := sizeUnits[m[2]]
	if !ok {
		hint := "units: B, KiB, MiB, GiB"
		switch strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(m[2], "B"), "b")) {
		case "k", "ki":
			hint = "write " + m[1] + "KiB: sizes are binary"
		case "m", "mi":
			hint = "write " + m[1] + "MiB: sizes are binary"
		case "g", "gi":
			hint = "write " + m[1] + "GiB: sizes are binary"
		}
		d.fail(n, path, hint, "%q: unknown unit '%s'", s, m[2])
		return 0, false
	}
	v, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || v > math.MaxInt64/unit {
		d.fail(n, path, "", "%q is out of range", s)
		return 0, false
	}
	return v * unit, true
}

// formatSize writes n with the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseEnum reads one of all by its word, ignoring case, '_' and '-'. The
// first of all is the default, which it returns as the zero value, as a
// spec built in Go leaves it.
func parseEnum[T ~string](d *decoder, n *yaml.Node, path, what string, all []T) (T, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	names := make([]string, len(all))
	for i, v := range all {
		if normalizeName(string(v)) == normalizeName(s) {
			if i == 0 {
				return "", true
			}
			return v, true
		}
		names[i] = string(v)
	}
	hint := "want one of " + strings.Join(names, ", ")
	if c := closest(s, names); c != "" {
		hint = "did you mean '" + c + "'?"
	} else if a, ok := enumAliases[what][normalizeName(s)]; ok {
		hint = a
	}
	d.fail(d.deref(n), path, hint, "unknown %s '%s'", what, s)
	return "", false
}

// enumAliases hints the value meant by a name from another tool: systemd's
// and Docker's restart policies, protoactor's strategy.
var enumAliases = map[string]map[string]string{
	"restart": {
		"onfailure":     "did you mean 'transient'? It restarts after an abnormal exit only",
		"onabnormal":    "did you mean 'transient'? It restarts after an abnormal exit only",
		"always":        "did you mean 'permanent'? It always restarts",
		"unlessstopped": "did you mean 'permanent'? It always restarts",
		"no":            "did you mean 'temporary'? It never restarts",
		"never":         "did you mean 'temporary'? It never restarts",
	},
	"strategy": {
		"allforone": "did you mean 'one_for_all'?",
	},
}

// The words of supervision's enums, the default first (the zero value
// means it).
var (
	strategies    = []supervision.Strategy{supervision.OneForOne, supervision.OneForAll, supervision.RestForOne, supervision.SimpleOneForOne}
	restarts      = []supervision.Restart{supervision.Permanent, supervision.Transient, supervision.Temporary}
	autoShutdowns = []supervision.AutoShutdown{supervision.Never, supervision.AnySignificant, supervision.AllSignificant}
)

// valid reports whether v is the zero value (the default) or one of all.
func valid[T ~string](v T, all []T) bool { return v == "" || slices.Contains(all, v) }

// orDefault returns v, or the default, all[0], for the zero value.
func orDefault[T ~string](v T, all []T) T {
	if v == "" {
		return all[0]
	}
	return v
}

// normalizeName folds an enum's word for comparison: case, '_' and '-'
// ignored.
func normalizeName(s string) string {
	return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
}
