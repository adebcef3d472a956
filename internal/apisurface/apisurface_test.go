package apisurface_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/apisurface"
)

// budget is how many exported identifiers the module's public packages may
// declare in all. Growing the API past it means taking something out first.
const budget = 250

// check returns the per-package counts of names as lines, and an error
// when their total is above limit.
func check(names map[string][]string, limit int) (lines []string, err error) {
	total := 0
	for _, pkg := range slices.Sorted(maps.Keys(names)) {
		lines = append(lines, fmt.Sprintf("%s %d", pkg, len(names[pkg])))
		total += len(names[pkg])
	}
	lines = append(lines, fmt.Sprintf("total %d", total))
	if total > limit {
		return lines, fmt.Errorf("%d exported identifiers, above the budget of %d", total, limit)
	}
	return lines, nil
}

// moduleRoot returns the repository's root: two levels above this test's
// directory, where go.mod names the module.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(mod), "module github.com/understudy/understudy\n")
	return root
}

// TestBudget: the module's public API stays within its budget.
func TestBudget(t *testing.T) {
	names, err := apisurface.Count(moduleRoot(t))
	require.NoError(t, err)
	require.Contains(t, names, "procbridge", "the walk found the packages")
	lines, err := check(names, budget)
	for _, l := range lines {
		t.Log(l)
	}
	if err != nil {
		for _, pkg := range slices.Sorted(maps.Keys(names)) {
			slices.Sort(names[pkg])
			t.Logf("%s:\n\t%s", pkg, strings.Join(names[pkg], "\n\t"))
		}
		t.Fatal(err)
	}
}

// TestCount counts a module made for the purpose: what counts, what does
// not, and a budget passed by one.
func TestCount(t *testing.T) {
	root := t.TempDir()
	write := func(path, src string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(path))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(src), 0o644))
	}
	write("go.mod", "module example.com/m\n")
	write("a/a.go", `package a

type T struct{ Field int }
type t struct{}
type G[X any] struct{}

func F()            {}
func f()            {}
func (T) M()        {}
func (*T) P()       {}
func (T) m()        {}
func (t) M()        {}
func (G[X]) Q()     {}

const C, c = 1, 2
var V, W int

const (
	E1 = iota
	e2
)
`)
	write("a/a_linux.go", "package a\n\nfunc Plat() {}\n")
	write("a/a_other.go", "//go:build !linux\n\npackage a\n\nfunc Plat() {}\n")
	write("a/a_test.go", "package a\n\nfunc TestX() {}\n")
	write("a/sub/s.go", "package sub\n\nvar S = 1\n")
	for _, dir := range []string{"internal/i", "cmd/c", "examples/e", "a/testdata/d", "a/internal/j"} {
		write(dir+"/x.go", "package x\n\nfunc Hidden() {}\n")
	}
	write("tool/main.go", "package main\n\nfunc Exported() {}\n")

	names, err := apisurface.Count(root)
	require.NoError(t, err)
	for _, n := range names {
		slices.Sort(n)
	}
	assert.Equal(t, map[string][]string{
		"a":     {"C", "E1", "F", "G.Q", "Plat", "Plat", "T.M", "T.P", "V", "W", "type G", "type T"},
		"a/sub": {"S"},
	}, names)

	lines, err := check(names, 13)
	assert.NoError(t, err, "13 within a budget of 13")
	assert.Equal(t, []string{"a 12", "a/sub 1", "total 13"}, lines)
	_, err = check(names, 12)
	assert.EqualError(t, err, "13 exported identifiers, above the budget of 12")

	write("a/more.go", "package a\n\nfunc Another() {}\n")
	names, err = apisurface.Count(root)
	require.NoError(t, err)
	_, err = check(names, 13)
	assert.Error(t, err, "one identifier more fails the check")
}
