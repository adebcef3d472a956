//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/testproc"
)

// shortSocket is a control socket's path in a directory of its own, short
// enough for a Unix socket whatever the test's name.
func shortSocket(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "tree.sock")
}

// startTree starts `understudy run` on the spec at path, serving its
// control socket at sock, and waits until the tree is up.
func startTree(t *testing.T, path, sock string, flags ...string) *runProc {
	t.Helper()
	args := append([]string{"run", "--ui", "logs", "--log-format", "json", "--socket", sock}, flags...)
	p := startCLI(t, append(args, path)...)
	got := p.waitFor("the control socket", msg("serving the control socket", ""))
	assert.Equal(t, sock, got.str("socket"))
	p.waitFor("the tree up", msg("the tree is up", ""))
	return p
}

// ctl runs `understudy ctl --socket sock args...` in a process of its own.
func ctl(t *testing.T, sock string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], append([]string{"ctl", "--socket", sock}, args...)...)
	cmd.Env = append(os.Environ(), envCLI+"=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errb.String()
}

// status asks for the tree's status and returns its children by path
// from the root ("jobs/fetch").
func status(t *testing.T, sock string) (treeStatus, map[string]childStatus) {
	t.Helper()
	code, out, errOut := ctl(t, sock, "--json", "status")
	require.Equal(t, 0, code, errOut)
	var st treeStatus
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	byPath := map[string]childStatus{}
	for _, c := range st.Children {
		byPath[strings.TrimPrefix(c.Path, st.Name+"/")] = c
	}
	return st, byPath
}

const ctlTree = `
name: demo
intensity: {max_restarts: 10, period: 10s}
children:
  - {name: a, command: sleep, args: [1000]}
  - name: counter
    worker: counter
    args: [20ms]
    standby: 1
    state_size: 8
    heartbeat: {interval: 10ms, timeout: 1s}
  - name: jobs
    supervisor:
      children:
        - {name: fetch, command: sleep, args: [1000]}
`

// TestCtlActs: ctl status shows every child (pids, spares, heartbeat),
// and stop, start, restart, kill and signal act on a child by its path,
// each refusal a clear error.
func TestCtlActs(t *testing.T) {
	sock := shortSocket(t)
	p := startTree(t, writeSpec(t, ctlTree), sock)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	st, kids := status(t, sock)
	assert.Equal(t, "demo", st.Name)
	assert.Equal(t, "running", st.State)
	assert.Equal(t, p.cmd.Process.Pid, st.Pid)
	require.Len(t, st.Children, 4)
	a, counter, fetch := kids["a"], kids["counter"], kids["jobs/fetch"]
	assert.Equal(t, "running", a.State)
	assert.NotZero(t, a.Pid)
	assert.NotNil(t, a.Uptime)
	assert.Nil(t, a.Heartbeat, "a does not beat")
	assert.Len(t, counter.Spares, 1, "the spare's pid")
	assert.NotNil(t, counter.Heartbeat)
	assert.True(t, kids["jobs"].Supervisor)
	assert.Equal(t, 1, fetch.Depth)

	code, out, _ := ctl(t, sock, "status")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "demo  ")
	assert.Contains(t, out, "SPARES")
	assert.Contains(t, out, strconv.Itoa(counter.Spares[0]))
	assert.Contains(t, out, "  fetch ")

	// stop, then a second stop is refused; start; start again is refused.
	code, out, errOut := ctl(t, sock, "stop", "a")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "demo/a: stopped\n", out)
	testproc.WaitGone(t, a.Pid)
	code, _, errOut = ctl(t, sock, "stop", "a")
	assert.Equal(t, exitInvalid, code)
	assert.Equal(t, "understudy ctl: demo/a is stopped already\n", errOut)
	code, out, errOut = ctl(t, sock, "start", "demo/a")
	require.Equal(t, 0, code, errOut)
	assert.True(t, strings.HasPrefix(out, "demo/a: started, pid "), out)
	code, _, errOut = ctl(t, sock, "start", "a")
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, errOut, "demo/a is running, not stopped")

	// restart a nested child: a new process.
	code, out, errOut = ctl(t, sock, "restart", "jobs/fetch")
	require.Equal(t, 0, code, errOut)
	assert.True(t, strings.HasPrefix(out, "demo/jobs/fetch: restarted, pid "), out)
	testproc.WaitGone(t, fetch.Pid)
	_, kids = status(t, sock)
	assert.NotEqual(t, fetch.Pid, kids["jobs/fetch"].Pid)
	assert.Equal(t, "running", kids["jobs/fetch"].State)

	// kill the hot-standby primary: the spare takes over, and LAST EXIT
	// says so.
	code, out, errOut = ctl(t, sock, "kill", "counter")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "demo/counter: sent SIGKILL to pid "+strconv.Itoa(counter.Pid)+"\n", out)
	took := p.waitFor("the failover", msg("spare took over", "counter"))
	assert.Equal(t, counter.Pid, took.int("old_pid"))
	_, kids = status(t, sock)
	assert.Equal(t, took.int("new_pid"), kids["counter"].Pid)
	assert.Contains(t, kids["counter"].LastExit, "pid "+strconv.Itoa(counter.Pid)+" ")
	assert.Contains(t, kids["counter"].LastExit, "failed over to "+strconv.Itoa(took.int("new_pid")))

	// signal: a dies of SIGHUP and is restarted.
	_, kids = status(t, sock)
	code, _, errOut = ctl(t, sock, "signal", "a", "hup")
	require.Equal(t, 0, code, errOut)
	ex := p.waitFor("a's exit", func(r record) bool {
		return r.str("msg") == "child exited" && r.str("child") == "a" && r.int("pid") == kids["a"].Pid
	})
	assert.Equal(t, "killed by SIGHUP", ex.str("exit"))

	// Refusals.
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"stop", "nope"}, exitInvalid, `understudy ctl: no child "nope" in the tree (understudy ctl status lists them)`},
		{[]string{"kill", "jobs"}, exitInvalid, "demo/jobs is a supervisor, not a process"},
		{[]string{"signal", "a", "NOPE"}, exitInvalid, `signal "NOPE": no such signal`},
		{[]string{"signal", "a"}, exitUsage, "understudy ctl signal: want CHILD and SIG, got 1 (a)"},
		{[]string{"frobnicate"}, exitUsage, `understudy ctl: no command "frobnicate"`},
	} {
		code, _, errOut := ctl(t, sock, c.args...)
		assert.Equal(t, c.code, code, c.args)
		assert.Contains(t, errOut, c.err, c.args)
	}

	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
	_, err = os.Stat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist, "the socket is removed at the end")
	code, _, errOut = ctl(t, sock, "status")
	assert.Equal(t, exitFailed, code)
	assert.Contains(t, errOut, "understudy ctl: no tree answers on "+sock)
}

// TestCtlEvents: ctl events follows the tree's events until the tree ends.
func TestCtlEvents(t *testing.T) {
	sock := shortSocket(t)
	p := startTree(t, writeSpec(t, "children:\n  - {name: a, command: sleep, args: [1000]}\n"), sock)
	pid := p.waitFor("a ready", msg("child ready", "a")).int("pid")

	cmd := exec.Command(os.Args[0], "ctl", "--socket", sock, "events")
	cmd.Env = append(os.Environ(), envCLI+"=1")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	errLines := bufio.NewScanner(stderr)
	require.True(t, errLines.Scan())
	assert.Equal(t, "understudy ctl: following the events of "+sock+" (Ctrl-C ends)", errLines.Text())

	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	want := []string{"root/a#1: pid " + strconv.Itoa(pid) + " exited: killed by SIGKILL", "root/a#1: restarting", "root/a#2: started", "root/a#2: pid "}
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for len(want) > 0 {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "events ended early")
			if _, text, _ := strings.Cut(l, " "); strings.HasPrefix(text, want[0]) {
				want = want[1:]
			}
		case <-timer.C:
			t.Fatalf("no event %q within %v", want[0], deadline)
		}
	}
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
	for range lines { // the stop's events, then the end of the stream
	}
	require.True(t, errLines.Scan())
	assert.Equal(t, "understudy ctl: the tree has ended", errLines.Text())
	require.NoError(t, cmd.Wait())
}

// TestCtlReload: reload prints the difference and applies it: the new
// child starts, the gone one stops, the changed one restarts, the rest
// run on; an invalid file changes nothing and says where it is wrong.
func TestCtlReload(t *testing.T) {
	sock := shortSocket(t)
	path := writeSpec(t, `
children:
  - {name: same, command: sleep, args: [1000]}
  - {name: changed, command: sleep, args: [1000]}
  - {name: gone, command: sleep, args: [1000]}
  - name: nest
    supervisor:
      children:
        - {name: inner, command: sleep, args: [1000]}
`)
	p := startTree(t, path, sock)
	_, before := status(t, sock)

	require.NoError(t, os.WriteFile(path, []byte("children:\n  - {name: same, comand: sleep}\n"), 0o644))
	code, _, errOut := ctl(t, sock, "reload")
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, errOut, "is invalid; nothing was changed:\n")
	assert.Contains(t, errOut, path+":2:18: children[0].comand: unknown key (did you mean 'command'?)")

	require.NoError(t, os.WriteFile(path, []byte(`
children:
  - {name: same, command: sleep, args: [1000]}
  - {name: changed, command: sleep, args: [2000]}
  - name: nest
    supervisor:
      children:
        - {name: inner, command: sleep, args: [1000]}
        - {name: added, command: sleep, args: [3000]}
`), 0o644))
	code, out, errOut := ctl(t, sock, "reload")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "changed: changed: restarted, pid ")
	assert.Contains(t, out, "    - args: [\"1000\"]\n    + args: [\"2000\"]\n")
	assert.Contains(t, out, "gone: removed: stopped and removed\n")
	assert.Contains(t, out, "nest/added: added: started, pid ")
	assert.Contains(t, out, "    + name: added\n    + command: sleep\n")
	assert.NotContains(t, out, "same")
	assert.NotContains(t, out, "inner")
	testproc.WaitGone(t, before["gone"].Pid)
	testproc.WaitGone(t, before["changed"].Pid)

	_, after := status(t, sock)
	assert.Equal(t, before["same"].Pid, after["same"].Pid, "left running")
	assert.Equal(t, before["nest/inner"].Pid, after["nest/inner"].Pid, "left running")
	assert.NotContains(t, after, "gone")
	assert.Equal(t, "running", after["changed"].State)
	assert.Equal(t, "running", after["nest/added"].State)

	code, out, _ = ctl(t, sock, "reload")
	assert.Equal(t, 0, code)
	assert.Equal(t, path+": no change\n", out)

	// A child that does not start, and the root's own settings: neither
	// is applied, and the next reload finds both again.
	require.NoError(t, os.WriteFile(path, []byte(`
intensity: {max_restarts: 7, period: 10s}
children:
  - {name: same, command: sleep, args: [1000]}
  - {name: changed, command: sleep, args: [2000]}
  - name: nest
    supervisor:
      children:
        - {name: inner, command: sleep, args: [1000]}
        - {name: added, command: sleep, args: [3000]}
  - {name: mute, command: sleep, args: [1000], sdk: true, ready_timeout: 100ms}
`), 0o644))
	for range 2 {
		code, out, _ = ctl(t, sock, "reload")
		assert.Equal(t, exitInvalid, code)
		assert.Contains(t, out, "root: settings: not applied: the root's own settings change only when understudy run starts again\n    + intensity: {max_restarts: 7, period: 10s}\n")
		assert.Contains(t, out, "mute: added: FAILED: start: ")
	}
	_, now := status(t, sock)
	assert.Equal(t, after["same"].Pid, now["same"].Pid, "left running")

	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestCtlOnlyOwner: a user other than the tree's owner (or root) is
// refused, even when the socket's mode lets it connect.
func TestCtlOnlyOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to connect as another user")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("no curl")
	}
	dir, err := os.MkdirTemp("", "ctl")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	sock := filepath.Join(dir, "tree.sock")
	p := startTree(t, writeSpec(t, "children:\n  - {name: a, command: sleep, args: [1000]}\n"), sock)
	require.NoError(t, os.Chmod(sock, 0o666)) // loosened by hand

	cmd := exec.Command(curl, "-s", "--unix-socket", sock, "http://understudy/v1/status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Contains(t, string(out), `"error": "uid 65534 may not control this tree: only its owner (uid 0) or root"`)

	code, _, errOut := ctl(t, sock, "status")
	assert.Equal(t, 0, code, errOut, "root may")
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestRunSocketInUse: a second tree cannot take a socket another serves.
func TestRunSocketInUse(t *testing.T) {
	sock := shortSocket(t)
	spec := writeSpec(t, "children:\n  - {name: a, command: sleep, args: [1000]}\n")
	p := startTree(t, spec, sock)
	status, _, errOut := runCLI(t, "", "run", "--ui", "logs", "--socket", sock, spec)
	assert.Equal(t, exitInvalid, status)
	assert.Contains(t, errOut, "understudy run: --socket "+sock+": "+sock+": another understudy serves it")
	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// frameRow returns the row of child name (its name leads the line) in the
// last frame the live view drew, without its escapes, and the frame.
func frameRow(out, name string) (row, frame string) {
	frames := strings.Split(out, "\x1b[H")
	frame = strings.ReplaceAll(frames[len(frames)-1], "\x1b[K", "")
	for _, l := range strings.Split(frame, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return l, frame
		}
	}
	return "", frame
}

// waitFrame waits for a frame whose row of child name ok accepts.
func waitFrame(t *testing.T, p *runProc, name, what string, ok func(row, frame string) bool) (row, frame string) {
	t.Helper()
	for {
		row, frame := frameRow(p.output(), name)
		if ok(row, frame) {
			return row, frame
		}
		select {
		case <-p.done:
			t.Fatalf("understudy ended before %s:\n%s\n%s", what, frame, p.transcript())
		default:
		}
		waitOutput(t, p)
	}
}

// TestRunLiveViewTellsTheTruth: the live view shows the metrics address
// and the control socket in its header, a hot-standby child's spare pids,
// how its primary ended after a failover, and, after Ctrl-C, how every
// child stopped.
func TestRunLiveViewTellsTheTruth(t *testing.T) {
	sock := shortSocket(t)
	p := startCLI(t, "run", "--ui", "live", "--metrics", "127.0.0.1:0", "--socket", sock, writeSpec(t, `
children:
  - {name: sleeper, command: sleep, args: [1000]}
  - name: counter
    worker: counter
    args: [20ms]
    standby: 1
    state_size: 8
    heartbeat: {interval: 10ms, timeout: 1s}
  - name: jobs
    supervisor:
      children:
        - {name: fetch, command: sleep, args: [1000]}
`))
	_, frame := waitFrame(t, p, "counter", "a spare", func(row, _ string) bool {
		f := strings.Fields(row)
		return len(f) > 3 && f[1] == "running" && f[3] != "-"
	})
	assert.Regexp(t, `metrics http://127\.0\.0\.1:\d+/metrics  control `+sock, frame)
	assert.Contains(t, frame, "SPARES")
	_, kids := status(t, sock)
	counter := kids["counter"]
	require.Len(t, counter.Spares, 1)
	row, _ := frameRow(p.output(), "counter")
	assert.Contains(t, row, " "+strconv.Itoa(counter.Spares[0])+" ", "the spare's pid")

	require.NoError(t, syscall.Kill(counter.Pid, syscall.SIGKILL))
	row, _ = waitFrame(t, p, "counter", "the failover's last exit", func(row, _ string) bool {
		return strings.Contains(row, "pid "+strconv.Itoa(counter.Pid)+" ")
	})
	assert.Contains(t, row, "failed over to "+strconv.Itoa(counter.Spares[0]))

	p.signal(syscall.SIGINT)
	assert.Equal(t, exitOK, p.wait())
	for _, name := range []string{"sleeper", "counter", "fetch"} {
		row, frame := frameRow(p.output(), name)
		assert.Contains(t, row, "ended", frame)
		assert.Contains(t, row, "stopped by us", frame)
		assert.Contains(t, row, "(shutdown)", frame)
	}
}

// TestCtlFindsTheSocket: without --socket, understudy run serves
// $XDG_RUNTIME_DIR/understudy/NAME.sock and understudy ctl finds it, past
// a stale socket that nothing serves.
func TestCtlFindsTheSocket(t *testing.T) {
	runtime, err := os.MkdirTemp("", "xdg")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(runtime) })
	env := []string{"XDG_RUNTIME_DIR=" + runtime}
	dir := filepath.Join(runtime, "understudy")

	// A stale socket, left by a tree that was killed.
	require.NoError(t, os.MkdirAll(dir, 0o700))
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "old.sock"), Net: "unix"})
	require.NoError(t, err)
	stale.SetUnlinkOnClose(false)
	require.NoError(t, stale.Close())

	p := startCLIEnv(t, env, "run", "--ui", "logs", "--log-format", "json", writeSpec(t, "name: shop\nchildren:\n  - {name: a, command: sleep, args: [1000]}\n"))
	want := filepath.Join(dir, "shop.sock")
	assert.Equal(t, want, p.waitFor("the control socket", msg("serving the control socket", "")).str("socket"))
	p.waitFor("the tree up", msg("the tree is up", ""))

	cmd := exec.Command(os.Args[0], "ctl", "status")
	cmd.Env = append(append(os.Environ(), envCLI+"=1"), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.True(t, strings.HasPrefix(string(out), "shop  "), string(out))

	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())

	cmd = exec.Command(os.Args[0], "ctl", "status")
	cmd.Env = append(append(os.Environ(), envCLI+"=1"), env...)
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "understudy ctl: no tree's socket: looked for "+filepath.Join(dir, "*.sock")+" ($XDG_RUNTIME_DIR/understudy), where nothing serves "+filepath.Join(dir, "old.sock")+": is understudy run running? (or pass --socket PATH)")
}

// TestCtlFindsTheSocketWithoutXDG: without $XDG_RUNTIME_DIR, as in a root
// shell with no login session, understudy run serves its control socket
// where understudy ctl looks for it (socketDir), owner-only, and ctl
// status finds it without --socket.
func TestCtlFindsTheSocketWithoutXDG(t *testing.T) {
	tmp, err := os.MkdirTemp("", "tmp")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(tmp) })
	// TMPDIR is where a user without /run/user/UID has it; root has
	// /run/understudy.
	env := []string{"XDG_RUNTIME_DIR", "TMPDIR=" + tmp}
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_RUNTIME_DIR", "")
	require.NoError(t, os.Unsetenv("XDG_RUNTIME_DIR"))
	dir, _ := socketDir()
	if found, err := findSocket(); err == nil {
		t.Skipf("another tree serves %s already: ctl without --socket would have to choose", found)
	}

	name := "nox" + strconv.Itoa(os.Getpid())
	p := startCLIEnv(t, env, "run", "--ui", "logs", "--log-format", "json", writeSpec(t, "name: "+name+"\nchildren:\n  - {name: a, command: sleep, args: [1000]}\n"))
	want := filepath.Join(dir, name+".sock")
	assert.Equal(t, want, p.waitFor("the control socket", msg("serving the control socket", "")).str("socket"))
	p.waitFor("the tree up", msg("the tree is up", ""))
	for _, path := range []string{dir, want} {
		fi, err := os.Lstat(path)
		require.NoError(t, err)
		assert.Zero(t, fi.Mode().Perm()&0o077, "%s is %v: owner-only", path, fi.Mode())
	}

	cmd := exec.Command(os.Args[0], "ctl", "status")
	cmd.Env = cliEnv(env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.True(t, strings.HasPrefix(string(out), name+"  "), string(out))

	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
	_, err = os.Lstat(want)
	assert.True(t, os.IsNotExist(err), "the socket is removed when the tree ends: %v", err)

	cmd = exec.Command(os.Args[0], "ctl", "status")
	cmd.Env = cliEnv(env...)
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "understudy ctl: no tree's socket: looked for "+filepath.Join(dir, "*.sock"))
}

// TestCtlInstances: a child started from a simple_one_for_one template
// is stopped (and gone, as in OTP), but not started again by name: the
// refusal comes before anything is stopped.
func TestCtlInstances(t *testing.T) {
	sock := shortSocket(t)
	p := startTree(t, writeSpec(t, `
children:
  - name: pool
    supervisor:
      strategy: simple_one_for_one
      template: {name: conn, command: sleep, args: [1000]}
      instances: 2
`), sock)
	p.waitFor("conn-2 ready", msg("child ready", "conn-2"))
	_, kids := status(t, sock)
	require.Contains(t, kids, "pool/conn-1")

	code, _, errOut := ctl(t, sock, "restart", "pool/conn-1")
	assert.Equal(t, exitInvalid, code)
	assert.Contains(t, errOut, "root/pool/conn-1 was started from a simple_one_for_one template: it cannot be started again by name")
	_, after := status(t, sock)
	assert.Equal(t, kids["pool/conn-1"].Pid, after["pool/conn-1"].Pid, "not stopped")

	code, out, errOut := ctl(t, sock, "stop", "pool/conn-1")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "root/pool/conn-1: stopped and removed (a child started from a template is not kept)\n", out)
	testproc.WaitGone(t, kids["pool/conn-1"].Pid)
	_, after = status(t, sock)
	assert.NotContains(t, after, "pool/conn-1")
	assert.Contains(t, after, "pool/conn-2")

	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestCtlEventsAsServerSentEvents: a client that accepts
// text/event-stream gets the same events as server-sent events.
func TestCtlEventsAsServerSentEvents(t *testing.T) {
	sock := shortSocket(t)
	p := startTree(t, writeSpec(t, "children:\n  - {name: a, command: sleep, args: [1000]}\n"), sock)
	pid := p.waitFor("a ready", msg("child ready", "a")).int("pid")

	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://understudy/v1/events", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))

	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	sc := bufio.NewScanner(resp.Body)
	// Where the host gives the early death notice for any process (eBPF),
	// a ChildProcess carrying the child's Dying comes first.
	var ev eventRecord
	for ev.Type == "" || ev.Type == "ChildProcess" {
		require.True(t, sc.Scan())
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		require.True(t, ok, sc.Text())
		ev = eventRecord{}
		require.NoError(t, json.Unmarshal([]byte(data), &ev))
		assert.Equal(t, "root/a", ev.Child)
		assert.Equal(t, pid, ev.Pid)
		require.True(t, sc.Scan())
		assert.Empty(t, sc.Text(), "an event ends with a blank line")
	}
	assert.Equal(t, "ChildExited", ev.Type)

	p.signal(syscall.SIGTERM)
	assert.Equal(t, exitOK, p.wait())
}

// TestCtlStatusNode: a remote child's node has a column of its own, there
// only when a child runs on another machine.
func TestCtlStatusNode(t *testing.T) {
	st := treeStatus{Name: "root", Children: []childStatus{
		{Path: "root/web", State: "running", Pid: 4242, Node: "b"},
		{Path: "root/db", State: "running", Pid: 77},
	}}
	out := formatStatus(st)
	lines := strings.Split(out, "\n")
	require.GreaterOrEqual(t, len(lines), 4, out)
	assert.Regexp(t, `^CHILD +STATE +PID +NODE +SPARES`, lines[1])
	assert.Regexp(t, `^web +running +4242 +b +-`, lines[2])
	assert.Regexp(t, `^db +running +77 +- +-`, lines[3])

	st.Children = st.Children[1:]
	assert.NotContains(t, formatStatus(st), "NODE")
}
