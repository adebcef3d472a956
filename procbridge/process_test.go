//go:build linux

package procbridge_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
)

var watchModes = []procbridge.WatchMode{procbridge.WatchPidfd, procbridge.WatchSentinel}

// startWatching starts spec with the death signal forced to mode.
func startWatching(t *testing.T, spec procbridge.Spec, mode procbridge.WatchMode) (*procbridge.Process, error) {
	t.Helper()
	return procbridge.StartWatching(ctxT(t), spec, mode)
}

// TestClassifyEnds runs every kind of end under both death signals: the
// pidfd and the forced pipe-sentinel fallback.
func TestClassifyEnds(t *testing.T) {
	cases := []struct {
		name   string
		spec   procbridge.Spec
		stop   bool
		kind   procbridge.ExitKind
		code   int
		signal syscall.Signal
		failed bool
		dying  bool // the robust futex tells before the pidfd
	}{
		{name: "sigkill", spec: procbridge.Spec{Worker: "sigkill"}, kind: procbridge.ExitSignal, code: -1, signal: syscall.SIGKILL, failed: true, dying: true},
		{name: "sigsegv", spec: procbridge.Spec{Worker: "sigsegv"}, kind: procbridge.ExitSignal, code: -1, signal: syscall.SIGSEGV, failed: true, dying: true},
		{name: "exit0", spec: procbridge.Spec{Worker: "exit-now", Args: []string{"0"}}, kind: procbridge.ExitClean},
		{name: "exit3", spec: procbridge.Spec{Worker: "exit-now", Args: []string{"3"}}, kind: procbridge.ExitCode, code: 3, failed: true, dying: true},
		{name: "stopped", spec: procbridge.Spec{Worker: "wait"}, stop: true, kind: procbridge.ExitStopped},
	}
	for _, mode := range watchModes {
		for _, c := range cases {
			t.Run(mode.String()+"/"+c.name, func(t *testing.T) {
				spec := c.spec
				spec.Dir = t.TempDir() // where a core would go
				p, err := startWatching(t, spec, mode)
				require.NoError(t, err)
				ready, ok := nextEvent(t, p).(procbridge.Ready)
				require.True(t, ok, "first event is Ready")
				assert.Equal(t, p.Pid(), ready.Pid)
				assert.Positive(t, ready.SpawnToReady)
				if c.stop {
					exit, err := p.Stop(ctxT(t))
					require.NoError(t, err)
					assert.Equal(t, procbridge.ExitStopped, exit.Kind)
				}
				ev := nextEvent(t, p)
				if c.dying {
					d, ok := ev.(procbridge.Dying)
					require.True(t, ok, "Dying before Exited, got %#v", ev)
					assert.Equal(t, p.Pid(), d.Pid)
					ev = nextEvent(t, p)
				}
				e, ok := ev.(procbridge.Exited)
				require.True(t, ok, "Exited, got %#v", ev)
				assert.LessOrEqual(t, mono.Of(e.Exit.Time)-mono.Of(ready.Time), int64(deadline))
				assert.Equal(t, c.kind, e.Exit.Kind, "kind of %v", e.Exit)
				assert.Equal(t, c.code, e.Exit.Code)
				assert.Equal(t, c.signal, e.Exit.Signal)
				if c.failed {
					var xe *procbridge.ExitError
					require.ErrorAs(t, e.Err, &xe)
					assert.Equal(t, p.Pid(), xe.Pid)
				} else {
					assert.NoError(t, e.Err)
				}
				_, open := <-p.Events()
				assert.False(t, open, "events closed after Exited")
				exit, err := p.Wait(ctxT(t))
				assert.Equal(t, e.Exit, exit)
				assert.Equal(t, e.Err, err)
			})
		}
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "ignore-sigterm", StopGrace: 100 * time.Millisecond})
	require.NoError(t, err)
	exit, err := p.Stop(ctxT(t))
	require.NoError(t, err)
	assert.Equal(t, procbridge.ExitStopped, exit.Kind)
	assert.Equal(t, syscall.SIGKILL, exit.Signal, "SIGTERM was ignored, so SIGKILL ended it")
}

func TestStopIsIdempotentAndConcurrent(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "wait"})
	require.NoError(t, err)
	var wg sync.WaitGroup
	exits := make([]procbridge.Exit, 8)
	for i := range exits {
		wg.Go(func() {
			if i%2 == 1 {
				p.Kill()
			}
			exits[i], _ = p.Stop(ctxT(t))
		})
	}
	wg.Wait()
	for _, e := range exits {
		assert.Equal(t, exits[0], e)
		assert.Equal(t, procbridge.ExitStopped, e.Kind)
	}
	p.Kill() // after the end: nothing to signal, no error
	exit, err := p.Stop(ctxT(t))
	assert.NoError(t, err)
	assert.Equal(t, exits[0], exit)
}

func TestGrandchildDiesWithWorker(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "fork-grandchild", Stdout: procbridge.Lines, StopGrace: 50 * time.Millisecond})
	require.NoError(t, err)
	line := <-p.Lines()
	grandchild, err := strconv.Atoi(line.Text)
	require.NoError(t, err, "grandchild pid line %q", line.Text)
	_, err = p.Stop(ctxT(t))
	require.NoError(t, err)
	waitGone(t, grandchild)
}

func TestGrandchildDiesWhenWorkerCrashes(t *testing.T) {
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "fork-grandchild", Stdout: procbridge.Lines})
	require.NoError(t, err)
	grandchild, err := strconv.Atoi((<-p.Lines()).Text)
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
	e := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitSignal, e.Exit.Kind)
	waitGone(t, grandchild)
}

// TestWorkersDieWithSupervisor SIGKILLs a supervising process and checks its
// worker follows it.
func TestWorkersDieWithSupervisor(t *testing.T) {
	sup, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "supervisor", Stdout: procbridge.Lines})
	require.NoError(t, err)
	line := <-sup.Lines()
	workerPid, err := strconv.Atoi(line.Text)
	require.NoError(t, err, "worker pid line %q", line.Text)
	// Only the supervisor: its worker is in a process group of its own.
	require.NoError(t, syscall.Kill(sup.Pid(), syscall.SIGKILL))
	exitedEvent(t, sup)
	waitGone(t, workerPid)
}

func TestStartErrors(t *testing.T) {
	t.Run("never ready", func(t *testing.T) {
		before := children(t)
		_, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "never-ready", ReadyTimeout: 100 * time.Millisecond})
		require.ErrorIs(t, err, procbridge.ErrStartTimeout)
		assert.Contains(t, err.Error(), "not ready after 100ms (its ready timeout)")
		assert.Contains(t, err.Error(), "must call Ready", "a hint for a program that links the SDK")
		assert.NotContains(t, err.Error(), "ReadyTimeout", "no Go field in a message a spec file's user reads")
		assert.Empty(t, newChildren(t, before), "no process left behind")
	})
	t.Run("dies before ready", func(t *testing.T) {
		before := children(t)
		_, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "die-before-ready"})
		require.ErrorIs(t, err, procbridge.ErrExitedBeforeReady)
		var xe *procbridge.ExitError
		require.ErrorAs(t, err, &xe)
		assert.Equal(t, 5, xe.Exit.Code)
		assert.Equal(t, procbridge.ExitNotReady, xe.Exit.Kind)
		assert.Empty(t, newChildren(t, before))
	})
	t.Run("context canceled", func(t *testing.T) {
		before := children(t)
		ctx, cancel := context.WithCancelCause(context.Background())
		cause := errors.New("operator gave up")
		go func() { cancel(cause) }()
		_, err := procbridge.Start(ctx, procbridge.Spec{Worker: "never-ready"})
		require.ErrorIs(t, err, cause)
		assert.Empty(t, newChildren(t, before))
	})
	t.Run("segment of another version", func(t *testing.T) {
		procbridge.SetSegmentVersionForTest(99)
		defer procbridge.SetSegmentVersionForTest(0)
		_, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "wait", Stderr: procbridge.Discard})
		require.ErrorIs(t, err, procbridge.ErrBadSegment)
		assert.Contains(t, err.Error(), "version")
	})
	t.Run("executable exits before ready", func(t *testing.T) {
		_, err := procbridge.Start(ctxT(t), procbridge.Spec{Path: "false", SDK: true})
		require.ErrorIs(t, err, procbridge.ErrExitedBeforeReady)
	})
}

func TestBadSpecs(t *testing.T) {
	notExec := t.TempDir() + "/not-exec"
	require.NoError(t, os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644))
	cases := []struct {
		name  string
		spec  procbridge.Spec
		field string
		value string
	}{
		{"no program", procbridge.Spec{}, "Path", `""`},
		{"both", procbridge.Spec{Path: "true", Worker: "wait"}, "Worker", `"wait"`},
		{"missing binary", procbridge.Spec{Path: "/nonexistent/understudy-nothing"}, "Path", "/nonexistent/understudy-nothing"},
		{"not executable", procbridge.Spec{Path: notExec}, "Path", notExec},
		{"unknown worker", procbridge.Spec{Worker: "no-such-worker"}, "Worker", `"no-such-worker"`},
		{"bad dir", procbridge.Spec{Worker: "wait", Dir: "/nonexistent"}, "Dir", "/nonexistent"},
		{"negative ready timeout", procbridge.Spec{Worker: "wait", ReadyTimeout: -time.Second}, "ReadyTimeout", "-1s"},
		{"negative grace", procbridge.Spec{Worker: "wait", StopGrace: -time.Second}, "StopGrace", "-1s"},
		{"negative interval", procbridge.Spec{Worker: "wait", Heartbeat: procbridge.Heartbeat{Interval: -time.Millisecond, Timeout: time.Second}}, "Heartbeat.Interval", "-1ms"},
		{"timeout not above interval", procbridge.Spec{Worker: "wait", Heartbeat: procbridge.Heartbeat{Interval: 5 * time.Millisecond, Timeout: 5 * time.Millisecond}}, "Heartbeat.Timeout", "5ms"},
		{"timeout without interval", procbridge.Spec{Worker: "wait", Heartbeat: procbridge.Heartbeat{Timeout: 5 * time.Millisecond}}, "Heartbeat.Timeout", "5ms"},
		{"heartbeat without SDK", procbridge.Spec{Path: "sleep", Heartbeat: procbridge.Heartbeat{Interval: 2 * time.Millisecond, Timeout: 5 * time.Millisecond}}, "Heartbeat.Interval", "2ms"},
		{"ring not a power of two", procbridge.Spec{Worker: "wait", RingSize: 1000}, "RingSize", "1000"},
		{"negative state", procbridge.Spec{Worker: "wait", StateSize: -1}, "StateSize", "-1"},
		{"writer without writer", procbridge.Spec{Worker: "wait", Stdout: procbridge.ToWriter(nil)}, "Stdout", "ToWriter(nil)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := children(t)
			_, err := procbridge.Start(ctxT(t), c.spec)
			require.ErrorIs(t, err, procbridge.ErrBadSpec)
			var se *procbridge.SpecError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, c.field, se.Field)
			assert.Contains(t, err.Error(), "procbridge: bad spec: "+c.field+" = ")
			assert.Contains(t, err.Error(), c.value)
			assert.Empty(t, newChildren(t, before))
		})
	}
}

func TestOutput(t *testing.T) {
	t.Run("lines", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "hello", Stdout: procbridge.Lines, Stderr: procbridge.Lines})
		require.NoError(t, err)
		var got []procbridge.Line
		for l := range p.Lines() {
			got = append(got, l)
		}
		assert.ElementsMatch(t, []procbridge.Line{
			{Pid: p.Pid(), Text: "hello, out"},
			{Pid: p.Pid(), Stderr: true, Text: "hello, err"},
		}, got)
		assert.Equal(t, procbridge.ExitClean, exitedEvent(t, p).Exit.Kind)
	})
	t.Run("writer", func(t *testing.T) {
		var out syncBuffer
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "hello", Stdout: procbridge.ToWriter(&out), Stderr: procbridge.Discard})
		require.NoError(t, err)
		_, err = p.Wait(ctxT(t))
		require.NoError(t, err)
		assert.Equal(t, "hello, out\n", out.String())
	})
	// The zero Output is the terminal's: the worker writes to this
	// process's own standard output and error.
	t.Run("inherit", func(t *testing.T) {
		outR, outW, err := os.Pipe()
		require.NoError(t, err)
		defer outR.Close()
		errR, errW, err := os.Pipe()
		require.NoError(t, err)
		defer errR.Close()
		stdout, stderr := os.Stdout, os.Stderr
		os.Stdout, os.Stderr = outW, errW
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "hello"})
		os.Stdout, os.Stderr = stdout, stderr
		outW.Close()
		errW.Close()
		require.NoError(t, err)
		_, err = p.Wait(ctxT(t))
		require.NoError(t, err)
		out, err := io.ReadAll(outR)
		require.NoError(t, err)
		assert.Equal(t, "hello, out\n", string(out))
		errOut, err := io.ReadAll(errR)
		require.NoError(t, err)
		assert.Equal(t, "hello, err\n", string(errOut))
	})
	// A worker that floods stdout while nobody reads finishes all the same.
	t.Run("flood unread", func(t *testing.T) {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "flood", Stdout: procbridge.Lines})
		require.NoError(t, err)
		e := exitedEvent(t, p)
		assert.Equal(t, procbridge.ExitClean, e.Exit.Kind)
		assert.Positive(t, e.Dropped, "lines were dropped, not the worker blocked")
		_, err = p.Wait(ctxT(t))
		require.NoError(t, err)
	})
	t.Run("flood slow writer", func(t *testing.T) {
		w := &blockingWriter{release: make(chan struct{})}
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "flood", Stdout: procbridge.ToWriter(w)})
		require.NoError(t, err)
		e := exitedEvent(t, p) // fails after the deadline: the worker blocked on a slow writer
		close(w.release)
		_, err = p.Wait(ctxT(t))
		require.NoError(t, err)
		assert.Positive(t, e.Dropped)
	})
}

// TestFdHygiene checks a worker inherits only its own descriptors, while
// siblings run.
func TestFdHygiene(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.String(), func(t *testing.T) {
			var sibs []*procbridge.Process
			for range 3 {
				p, err := startWatching(t, procbridge.Spec{Worker: "wait", Stdout: procbridge.Lines}, mode)
				require.NoError(t, err)
				sibs = append(sibs, p)
			}
			p, err := startWatching(t, procbridge.Spec{Worker: "list-fds", Stdout: procbridge.Lines}, mode)
			require.NoError(t, err)
			fds := map[int]string{}
			for l := range p.Lines() {
				if l.Text == "end" {
					break
				}
				f := strings.SplitN(l.Text, " ", 2)
				n, err := strconv.Atoi(f[0])
				require.NoError(t, err, "line %q", l.Text)
				fds[n] = f[1]
			}
			passThrough := inheritable(t)
			for fd, target := range fds {
				if passThrough[fd] {
					continue // open without close-on-exec before we started: any child gets it
				}
				assert.NotContains(t, target, "pidfd", "fd %d", fd)
				if strings.HasPrefix(target, "/memfd:") {
					assert.Equal(t, 3, fd, "only our own segment: fd %d is %s", fd, target)
				}
				if strings.HasPrefix(target, "pipe:") {
					assert.LessOrEqual(t, fd, 5, "only our own pipes: fd %d is %s", fd, target)
				}
			}
			assert.Contains(t, fds[3], "/memfd:understudy:list-fds")
			for _, q := range append(sibs, p) {
				q.Kill()
				q.Wait(ctxT(t))
			}
		})
	}
}

// inheritable returns this process's descriptors that lack close-on-exec:
// those came from whoever started the test, and every child inherits them.
func inheritable(t *testing.T) map[int]bool {
	ents, err := os.ReadDir("/proc/self/fdinfo")
	require.NoError(t, err)
	out := map[int]bool{}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, _ := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
				if flags&syscall.O_CLOEXEC == 0 {
					n, _ := strconv.Atoi(e.Name())
					out[n] = true
				}
			}
		}
	}
	return out
}

// children lists this process's live children (from every thread).
func children(t *testing.T) string {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	require.NoError(t, err)
	var all []string
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err == nil {
			all = append(all, strings.Fields(string(b))...)
		}
	}
	return strings.Join(all, " ")
}

// newChildren returns this process's children now that were not among
// before (children's list): a process a start left behind. A child of an
// earlier test that is reaped meanwhile leaves the list, which is no
// concern here, and the containment keeper the first start of this
// process starts (it lives as long as the process) is not counted.
func newChildren(t *testing.T, before string) []string {
	t.Helper()
	was := map[string]bool{}
	for _, pid := range strings.Fields(before) {
		was[pid] = true
	}
	var left []string
	for _, pid := range strings.Fields(children(t)) {
		env, _ := os.ReadFile("/proc/" + pid + "/environ")
		if !was[pid] && !strings.Contains(string(env), linux.KeeperEnv+"=") {
			left = append(left, pid)
		}
	}
	return left
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type blockingWriter struct{ release chan struct{} }

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return len(p), nil
}

func TestExtraFiles(t *testing.T) {
	for _, mode := range watchModes {
		t.Run(mode.String(), func(t *testing.T) {
			f, err := os.CreateTemp(t.TempDir(), "extra")
			require.NoError(t, err)
			defer f.Close()
			_, err = f.WriteString("handed down")
			require.NoError(t, err)
			p, err := startWatching(t, procbridge.Spec{Worker: "extra", ExtraFiles: []*os.File{f}, Stdout: procbridge.Lines}, mode)
			require.NoError(t, err)
			assert.Equal(t, "handed down", (<-p.Lines()).Text)
			exit, err := p.Wait(ctxT(t))
			require.NoError(t, err)
			assert.Equal(t, procbridge.ExitClean, exit.Kind)
		})
	}
}

// TestReadyThenExit: a program that starts and ends at once (no SDK) has
// started: Start succeeds and Exited follows; never ErrExitedBeforeReady.
func TestReadyThenExit(t *testing.T) {
	for range 50 {
		p, err := procbridge.Start(ctxT(t), procbridge.Spec{Path: "false"})
		require.NoError(t, err)
		e := exitedEvent(t, p)
		assert.Equal(t, procbridge.ExitCode, e.Exit.Kind)
		assert.Equal(t, 1, e.Exit.Code)
	}
}

// TestCoreDumped: an end that left a core says so.
func TestCoreDumped(t *testing.T) {
	pattern, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil || strings.HasPrefix(string(pattern), "|") {
		t.Skipf("core_pattern %q pipes cores elsewhere; WCOREDUMP is not ours to see", pattern)
	}
	p, err := procbridge.Start(ctxT(t), procbridge.Spec{Worker: "core", Dir: t.TempDir()})
	require.NoError(t, err)
	e := exitedEvent(t, p)
	assert.Equal(t, syscall.SIGSEGV, e.Exit.Signal)
	assert.True(t, e.Exit.CoreDumped, "%v", e.Exit)
	assert.Contains(t, e.Exit.String(), "core dumped")
}
