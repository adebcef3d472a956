package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
)

// printer is a spec file with one child that prints numbered lines, each
// ending in tail, to stdout, declared as out.
func printer(tail, out string) string {
	return fmt.Sprintf(`children:
  - {name: p, command: /bin/sh, args: ["-c", "i=0; while :; do i=$((i+1)); echo \"line $i $TAIL\"; sleep 0.005; done"], env: {TAIL: %q}, stdout: %s}
`, tail, out)
}

// TestRunOutputRotates: a child's output file with max_size rotates as the
// child writes, keeps max_files rotated files, and keeps lines whole.
func TestRunOutputRotates(t *testing.T) {
	p := startRun(t, printer(strings.Repeat("x", 200), "{path: ./out.log, max_size: 4KiB, max_files: 2}"))
	p.waitFor("the tree up", msg("the tree is up", ""))
	dir := filepath.Dir(p.cmd.Args[len(p.cmd.Args)-1])
	out := filepath.Join(dir, "out.log")
	// The second rotation has happened once out.log.2 exists; wait for a
	// third, which must drop the oldest.
	first := testproc.WaitFile(t, out+".2", func(string) bool { return true })
	testproc.WaitFile(t, out+".2", func(s string) bool { return s != first })
	p.signal(syscall.SIGTERM)
	assert.Equal(t, 0, p.wait(), p.transcript())

	line := regexp.MustCompile(`^line [0-9]+ x{200}$`)
	for _, name := range []string{"out.log", "out.log.1", "out.log.2"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.LessOrEqual(t, len(data), 4<<10, name)
		for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if l != "" {
				assert.Regexp(t, line, l, name+": every line whole")
			}
		}
	}
	_, err := os.Stat(filepath.Join(dir, "out.log.3"))
	assert.True(t, os.IsNotExist(err), "only max_files are kept: %v", err)
}

// TestRunReopensOnHangup: after a logrotate renames a child's output file,
// SIGHUP makes the next line open the path again; the renamed file keeps
// what it had.
func TestRunReopensOnHangup(t *testing.T) {
	p := startRun(t, printer("", "./out.log"))
	p.waitFor("the tree up", msg("the tree is up", ""))
	dir := filepath.Dir(p.cmd.Args[len(p.cmd.Args)-1])
	out := filepath.Join(dir, "out.log")
	testproc.WaitFile(t, out, func(s string) bool { return strings.Contains(s, "line 1 \n") })
	require.NoError(t, os.Rename(out, out+".old"))
	p.signal(syscall.SIGHUP)
	r := p.waitFor("the reopen", msg("SIGHUP: output files reopened", ""))
	assert.Equal(t, 1, r.int("files"))
	testproc.WaitFile(t, out, func(s string) bool { return strings.HasPrefix(s, "line ") })
	old, err := os.ReadFile(out + ".old")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(old), "line 1 \n"), "the renamed file keeps the first lines")
	p.signal(syscall.SIGTERM)
	assert.Equal(t, 0, p.wait(), p.transcript())
}
