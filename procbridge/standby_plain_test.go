//go:build linux

package procbridge_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// plainGroup starts a group whose primary is the plain executable path
// with args (no SDK), told to go on by a line on descriptor 6, and whose
// spare is beating-counter without a heartbeat, which counts once it is
// promoted.
func plainGroup(t *testing.T, path string, args ...string) (g *procbridge.Group, goAhead func()) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	t.Cleanup(func() { w.Close() })
	g, err = procbridge.StartGroup(ctxT(t), procbridge.Spec{
		Path: path, Args: args, ExtraFiles: []*os.File{r},
		StateSize: 8, RingSize: 4096,
		Spare: &procbridge.Spec{Worker: "beating-counter"},
	}, 1)
	require.NoError(t, err)
	t.Cleanup(func() { g.Stop(context.Background()) })
	return g, func() { w.Write([]byte("go\n")) }
}

// TestGroupPlainPrimary: a group whose primary does not link the SDK (a
// sleep, a shell, a Python program) fails over when it is killed, crashes
// or exits, on the eBPF watch's Dying, with the same fencing as an SDK
// group's: a new epoch, the spare promoted and counting.
func TestGroupPlainPrimary(t *testing.T) {
	needKernelWatch(t)
	python := lookPython(t)
	self := os.Getpid()
	for _, c := range []struct {
		name   string
		path   string
		args   []string
		kill   bool // the test SIGKILLs it; else it is told to go on
		signal syscall.Signal
		code   int
	}{
		{"sleep SIGKILL", "sleep", []string{"60"}, true, syscall.SIGKILL, 0},
		{"shell SIGSEGV", "sh", []string{"-c", "read x <&6; kill -SEGV $$"}, false, syscall.SIGSEGV, 0},
		{"shell exit 3", "sh", []string{"-c", "read x <&6; exit 3"}, false, 0, 3},
		{"python SIGKILL", python, []string{"-c", "import time; time.sleep(60)"}, true, syscall.SIGKILL, 0},
		{"python crash", python, []string{"-c", "import os, ctypes; os.read(6, 1); ctypes.string_at(0)"}, false, syscall.SIGSEGV, 0},
		{"python exit 3", python, []string{"-c", "import os, sys; os.read(6, 1); sys.exit(3)"}, false, 0, 3},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The watch's Dying comes before Exited, however soon the
			// primary is torn down: the group fails over on it.
			g, goAhead := plainGroup(t, c.path, c.args...)
			primary, spare := g.Primary(), g.Spares()[0]
			if c.kill {
				require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
			} else {
				goAhead()
			}
			p := nextGroupEvent[procbridge.Promoted](t, g)
			assert.Equal(t, primary.Pid(), p.From)
			assert.Equal(t, spare.Pid(), p.To)
			assert.Equal(t, uint64(1), p.Epoch)
			assert.False(t, p.ByKernel, "a plain primary holds no robust futex: the group woke the spare")
			d, ok := p.Cause.(procbridge.Dying)
			require.True(t, ok, "want the eBPF watch's Dying, got %v", p.Cause)
			assert.Equal(t, "ebpf", d.Source)
			assert.Equal(t, c.signal, d.Signal)
			assert.Equal(t, c.code, d.Code)
			if c.kill {
				assert.Equal(t, self, d.Sender)
			}
			awaitCount(t, g, 10) // the spare took over and counts
			assert.Equal(t, spare.Pid(), g.Primary().Pid())
		})
	}
}

// TestGroupPlainPrimaryHeldMemory: the spare of a plain primary with a
// large heap is promoted before the kernel has torn the primary's memory
// down (its pidfd readable, Exited's time).
func TestGroupPlainPrimaryHeldMemory(t *testing.T) {
	needKernelWatch(t)
	// It touches its heap, waits to be told to go on, and SIGKILLs itself.
	g, goAhead := plainGroup(t, lookPython(t), "-c",
		"import os, signal; b = bytearray(256 << 20); b[::4096] = b'x' * (len(b) // 4096); os.read(6, 1); os.kill(os.getpid(), signal.SIGKILL)")
	primary := g.Primary()
	goAhead()
	p := nextGroupEvent[procbridge.Promoted](t, g)
	d, ok := p.Cause.(procbridge.Dying)
	require.True(t, ok, "want the eBPF watch's Dying, got %v", p.Cause)
	assert.Equal(t, "ebpf", d.Source)
	exit, _ := primary.Wait(ctxT(t))
	assert.True(t, p.Switched.Before(exit.Time), "the spare was woken at %v, the primary's memory gone at %v", p.Switched, exit.Time)
	t.Logf("SIGKILL of a 256 MB primary: spare woken %v before its pidfd was readable", exit.Time.Sub(p.Switched))
}

// TestGroupPlainPrimaryFallback: without the eBPF watch (forced, as on a
// host that cannot load it) a plain primary's group still fails over, on
// its Exited.
func TestGroupPlainPrimaryFallback(t *testing.T) {
	procbridge.SetKernelWatchForTest(false)
	defer procbridge.SetKernelWatchForTest(true)
	g, _ := plainGroup(t, "sleep", "60")
	primary, spare := g.Primary(), g.Spares()[0]
	require.NoError(t, syscall.Kill(primary.Pid(), syscall.SIGKILL))
	p := nextGroupEvent[procbridge.Promoted](t, g)
	assert.Equal(t, spare.Pid(), p.To)
	x, ok := p.Cause.(procbridge.Exited)
	require.True(t, ok, "want Exited, got %v", p.Cause)
	assert.Equal(t, syscall.SIGKILL, x.Exit.Signal)
	awaitCount(t, g, 10)
}

// TestGroupSpareSpecErrors: a bad Spare is refused, naming its field.
func TestGroupSpareSpecErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		spec  procbridge.Spec
		field string
	}{
		{"plain, no spare", procbridge.Spec{Path: "sleep"}, "Worker"},
		{"plain spare", procbridge.Spec{Path: "sleep", Spare: &procbridge.Spec{Path: "sleep"}}, "Spare.SDK"},
		{"spare without program", procbridge.Spec{Path: "sleep", Spare: &procbridge.Spec{}}, "Spare.Path"},
		{"spare of a spare", procbridge.Spec{Path: "sleep", Spare: &procbridge.Spec{Worker: "beating-counter", Spare: &procbridge.Spec{}}}, "Spare.Spare"},
		{"spare sizes the state", procbridge.Spec{Path: "sleep", Spare: &procbridge.Spec{Worker: "beating-counter", StateSize: 8}}, "Spare.StateSize"},
		{"spare's heartbeat", procbridge.Spec{Path: "sleep", Spare: &procbridge.Spec{Worker: "beating-counter", Heartbeat: groupBeat}}, "Spare.Heartbeat"},
		{"spare unknown", procbridge.Spec{Path: "sleep", Spare: &procbridge.Spec{Worker: "no-such-worker"}}, "Spare.Worker"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := procbridge.StartGroup(ctxT(t), c.spec, 1)
			var se *procbridge.SpecError
			require.True(t, errors.As(err, &se), "want a SpecError, got %v", err)
			assert.Equal(t, c.field, se.Field, "%v", err)
		})
	}
	_, err := procbridge.Start(ctxT(t), procbridge.Spec{Path: "sleep", Args: []string{"60"}, Spare: &procbridge.Spec{Worker: "beating-counter"}})
	var se *procbridge.SpecError
	require.True(t, errors.As(err, &se), "a lone process has no spares: %v", err)
	assert.Equal(t, "Spare", se.Field)
}

func lookPython(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 here")
	}
	return p
}
