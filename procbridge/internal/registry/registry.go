// Package registry holds the Go worker functions registered by name in the
// current binary. procbridge/worker registers and runs them; procbridge
// checks a name before it re-executes the binary to run one.
package registry

import (
	"slices"
	"sync"
)

var (
	mu    sync.RWMutex
	funcs = map[string]any{}
)

// Add registers fn under name. It reports false when the name is taken.
func Add(name string, fn any) bool {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := funcs[name]; dup {
		return false
	}
	funcs[name] = fn
	return true
}

// Lookup returns the function registered under name.
func Lookup(name string) (any, bool) {
	mu.RLock()
	defer mu.RUnlock()
	fn, ok := funcs[name]
	return fn, ok
}

// Names returns the registered names, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(funcs))
	for n := range funcs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var mainCalled bool

// SetMainCalled records that worker.Main ran at the top of this program.
func SetMainCalled() { mu.Lock(); mainCalled = true; mu.Unlock() }

// MainCalled reports whether worker.Main ran.
func MainCalled() bool { mu.RLock(); defer mu.RUnlock(); return mainCalled }
