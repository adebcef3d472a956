//go:build linux

package supervision_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/supervision"
)

// TestTreeKillEndsSetsidDescendants: where workers are contained in
// cgroups, Kill ends a descendant that left its worker's process group and
// session too, and by the time the tree is done it is gone.
func TestTreeKillEndsSetsidDescendants(t *testing.T) {
	probe, err := linux.MakeDomain("understudy.probe." + strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Skipf("cgroup containment is not available on this host (%v): run as root, or in a delegated cgroup v2 subtree", err)
	}
	probe.RemoveAll()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	spec := supervision.Spec{Children: []supervision.ChildSpec{{Name: "leaver", Process: &procbridge.Spec{
		Path: "sh", Args: []string{"-c", `setsid sleep 600 6>&- & echo $! >&6; exec sleep 1000 6>&-`},
		ExtraFiles: []*os.File{w}, // fd 6
	}}}}
	tree, err := supervision.Start(ctxT(t), spec, supervision.Options{})
	w.Close()
	require.NoError(t, err)
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	var pid int
	select {
	case s := <-line:
		pid, _ = strconv.Atoi(strings.TrimSpace(s))
	case <-ctxT(t).Done():
		t.Fatal("no pid from the worker")
	}
	require.Positive(t, pid, "the setsid child's pid")
	fd, err := unix.PidfdOpen(pid, 0)
	require.NoError(t, err)
	defer unix.Close(fd)

	tree.Kill()
	select {
	case <-tree.Done():
	case <-ctxT(t).Done():
		t.Fatal("the tree did not end")
	}
	n, _ := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	assert.Equal(t, 1, n, "the setsid child (pid %d) is gone when the tree is done", pid)
	if n == 0 {
		unix.Kill(pid, unix.SIGKILL)
	}
}
