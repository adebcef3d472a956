package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/spec"
)

// read returns the file's content, or "<none>" when it does not exist.
func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return "<none>"
	}
	require.NoError(t, err)
	return string(data)
}

// TestOutputRotates: an output file with a max_size rotates before a write
// would pass it, keeps whole lines together, keeps max_files rotated files
// and drops the oldest.
func TestOutputRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	o := spec.NewRotatedOutput(path, 10, 2)
	for _, w := range []string{"aaa\n", "bbb\n", "ccc\n", "dd\neeee\n", "ff"} {
		n, err := o.Write([]byte(w))
		require.NoError(t, err)
		require.Equal(t, len(w), n)
	}
	// aaa bbb (8 bytes) and ccc would pass 10: rotate. ccc dd (7) and eeee
	// would pass it: the write is cut after dd, and eeee starts a file.
	assert.Equal(t, "eeee\nff", read(t, path))
	assert.Equal(t, "ccc\ndd\n", read(t, path+".1"))
	assert.Equal(t, "aaa\nbbb\n", read(t, path+".2"))

	_, err := o.Write([]byte("gggggg\n"))
	require.NoError(t, err)
	assert.Equal(t, "gggggg\n", read(t, path))
	assert.Equal(t, "eeee\nff", read(t, path+".1"))
	assert.Equal(t, "ccc\ndd\n", read(t, path+".2"))
	assert.Equal(t, "<none>", read(t, path+".3"), "only max_files are kept")

	// A line longer than max_size has a file of its own.
	long := strings.Repeat("x", 25) + "\n"
	_, err = o.Write([]byte(long + "y\n"))
	require.NoError(t, err)
	assert.Equal(t, "y\n", read(t, path))
	assert.Equal(t, long, read(t, path+".1"))
	assert.Equal(t, "gggggg\n", read(t, path+".2"))
	require.NoError(t, o.Close())
}

// TestOutputRotatesFromExistingSize: a file that already holds output
// counts it towards max_size, and max_files 0 keeps no rotated file.
func TestOutputRotatesFromExistingSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	require.NoError(t, os.WriteFile(path, []byte("old line\n"), 0o644))
	o := spec.NewRotatedOutput(path, 12, 0)
	_, err := o.Write([]byte("new line\n"))
	require.NoError(t, err)
	assert.Equal(t, "new line\n", read(t, path))
	assert.Equal(t, "<none>", read(t, path+".1"))
	require.NoError(t, o.Close())
}

// TestOutputReopen: after a logrotate moves the file away, Reopen makes the
// next write create the path again; the moved file keeps what it had.
func TestOutputReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	o := spec.NewRotatedOutput(path, 0, 0)
	_, err := o.Write([]byte("before\n"))
	require.NoError(t, err)
	require.NoError(t, os.Rename(path, path+".moved"))
	_, err = o.Write([]byte("still the old file\n"))
	require.NoError(t, err)
	require.NoError(t, o.Reopen())
	require.NoError(t, o.Reopen(), "twice")
	_, err = o.Write([]byte("after\n"))
	require.NoError(t, err)
	assert.Equal(t, "before\nstill the old file\n", read(t, path+".moved"))
	assert.Equal(t, "after\n", read(t, path))
	require.NoError(t, o.Close())
	_, err = o.Write([]byte("closed\n"))
	assert.ErrorIs(t, err, os.ErrClosed)
}

// TestOutputRotateSpec: the file format's {path, max_size, max_files}, its
// default max_files, and its errors.
func TestOutputRotateSpec(t *testing.T) {
	dir := t.TempDir()
	f, err := spec.Parse(filepath.Join(dir, "t.yaml"), []byte(`children:
  - {name: a, command: sleep, stdout: {path: ./a.log, max_size: 10MiB, max_files: 3}}
  - {name: b, command: sleep, stderr: {path: ./b.log, max_size: 64KiB}}
  - {name: c, command: sleep, stdout: {path: ./c.log}}
`))
	require.NoError(t, err)
	assert.Equal(t, spec.RotatedOutput(filepath.Join(dir, "a.log"), 10<<20, 3), f.Tree.Children[0].Process.Stdout)
	assert.Equal(t, spec.RotatedOutput(filepath.Join(dir, "b.log"), 64<<10, 5), f.Tree.Children[1].Process.Stderr)
	assert.Equal(t, spec.FileOutput(filepath.Join(dir, "c.log")), f.Tree.Children[2].Process.Stdout)

	_, err = spec.Parse("t.yaml", []byte(`children:
  - {name: a, command: sleep, stdout: {max_size: 1MiB}}
  - {name: b, command: sleep, stdout: {path: discard, max_size: 1MiB}}
  - {name: c, command: sleep, stdout: {path: ./c.log, max_size: 100}}
  - {name: d, command: sleep, stdout: {path: ./d.log, max_files: 2}}
  - {name: e, command: sleep, stdout: {path: ./e.log, max_size: 1MiB, max_files: -1}}
  - {name: f, command: sleep, stdout: {path: ./f.log, max_sise: 1MiB}}
  - {name: g, command: sleep, stdout: {path: [x]}}
  - {name: h, command: sleep, stdout: {path: nofile}}
`))
	require.Error(t, err)
	assert.Equal(t, `t.yaml:2:39: children[0].stdout: an output file needs a path (add path: ./logs/NAME.log)
t.yaml:3:46: children[1].stdout.path: 'discard' is not a file path: only a file rotates (write the word alone, as stdout: discard)
t.yaml:4:65: children[2].stdout.max_size: a max_size of 100 bytes is too small (at least 4KiB)
t.yaml:5:66: children[3].stdout.max_files: max_files without max_size: the file never rotates (add max_size)
t.yaml:6:82: children[4].stdout.max_files: -1 rotated files: want 0 to 1000
t.yaml:7:55: children[5].stdout.max_sise: unknown key (did you mean 'max_size'?)
t.yaml:8:46: children[6].stdout.path: want a file path, got a list
t.yaml:9:46: children[7].stdout.path: unknown output 'nofile': want inherit, discard, lines or a file path (a file path needs a '/': ./nofile)`, err.Error())
}
