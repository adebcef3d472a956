//go:build linux

package procbridge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
)

// envNotifyDaemon makes the test binary a daemon that speaks sd_notify as
// a C daemon would: a datagram socket and sendto(2) to NOTIFY_SOCKET, no
// SDK. Its arguments are steps:
//
//	ready           READY=1
//	env             STATUS= with its pid, WATCHDOG_PID and WATCHDOG_USEC
//	status:TEXT     STATUS=TEXT
//	beat:N:DUR      WATCHDOG=1 N times, DUR apart
//	readymark       READY=1, after writing the time on stdout
//	trigger         WATCHDOG=trigger
//	stopping        STOPPING=1
//	sleep           sleep for ever (a hang: asleep)
//	wait            read stdin until EOF, then go on
//	exit:N          exit with status N
const envNotifyDaemon = "PB_NOTIFY_DAEMON"

func init() {
	if os.Getenv(envNotifyDaemon) == "" {
		return
	}
	os.Exit(notifyDaemon(os.Args[1:]))
}

func notifyDaemon(steps []string) int {
	if fd, err := strconv.Atoi(os.Getenv("PB_NOTIFY_STDIN")); err == nil {
		os.Stdin = os.NewFile(uintptr(fd), "stdin")
	}
	addr := os.Getenv("NOTIFY_SOCKET")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil || addr == "" {
		return 90
	}
	to := &unix.SockaddrUnix{Name: addr}
	send := func(msg string) {
		if err := unix.Sendto(fd, []byte(msg), 0, to); err != nil {
			os.Exit(91)
		}
	}
	for _, step := range steps {
		name, arg, _ := strings.Cut(step, ":")
		switch name {
		case "ready":
			send("READY=1")
		case "env":
			send(fmt.Sprintf("STATUS=pid=%d watchdog_pid=%s watchdog_usec=%s", os.Getpid(), os.Getenv("WATCHDOG_PID"), os.Getenv("WATCHDOG_USEC")))
		case "status":
			send("STATUS=" + arg)
		case "beat":
			n, d, _ := strings.Cut(arg, ":")
			count, _ := strconv.Atoi(n)
			gap, _ := time.ParseDuration(d)
			for range count {
				send("WATCHDOG=1")
				time.Sleep(gap)
			}
		case "readymark":
			fmt.Println(mono.Now())
			send("READY=1")
		case "trigger":
			send("WATCHDOG=trigger")
		case "stopping":
			send("STOPPING=1")
		case "sleep":
			select {}
		case "wait":
			buf := make([]byte, 64)
			for {
				if _, err := os.Stdin.Read(buf); err != nil {
					break
				}
			}
		case "exit":
			code, _ := strconv.Atoi(arg)
			return code
		}
	}
	return 0
}

// notifySpec is a spec for the notify daemon doing steps.
func notifySpec(t testing.TB, steps ...string) procbridge.Spec {
	exe, err := os.Executable()
	require.NoError(t, err)
	return procbridge.Spec{
		Name:   "notifyd",
		Path:   exe,
		Args:   steps,
		Env:    append(os.Environ(), envNotifyDaemon+"=1"),
		Notify: true,
	}
}

// notifySocketOf reads the NOTIFY_SOCKET the child at pid was given.
func notifySocketOf(t *testing.T, pid int) string {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	require.NoError(t, err)
	for kv := range strings.SplitSeq(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "NOTIFY_SOCKET="); ok {
			return v
		}
	}
	t.Fatal("no NOTIFY_SOCKET in the child's environment")
	return ""
}

// TestNotifyReadyBeatsHang: a daemon is not ready until it sends READY=1;
// it gets WATCHDOG_USEC and WATCHDOG_PID from its heartbeat; its
// WATCHDOG=1 keeps it alive; when it stops beating it is hung, asleep.
func TestNotifyReadyBeatsHang(t *testing.T) {
	spec := notifySpec(t, "env", "beat:3:10ms", "ready", "beat:10:20ms", "sleep")
	spec.Heartbeat = procbridge.Heartbeat{Interval: 50 * time.Millisecond, Timeout: 150 * time.Millisecond}
	p, err := procbridge.Start(context.Background(), spec)
	require.NoError(t, err)
	ready := nextEvent(t, p).(procbridge.Ready)
	assert.GreaterOrEqual(t, ready.SpawnToReady, 30*time.Millisecond, "ready at READY=1, not when it ran")
	assert.Equal(t, fmt.Sprintf("pid=%d watchdog_pid=%d watchdog_usec=150000", p.Pid(), p.Pid()), p.Status())

	e := nextEvent(t, p)
	hung, ok := e.(procbridge.Hung)
	require.True(t, ok, "want Hung, got %v", e)
	assertAsleep(t, hung)
	assert.Greater(t, beatCount(p), uint64(10), "its WATCHDOG=1 were beats")
	x := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitKilledHung, x.Exit.Kind)
	assert.Zero(t, x.Refused)
}

// TestNotifyTrigger: WATCHDOG=trigger is a hang verdict at once.
func TestNotifyTrigger(t *testing.T) {
	spec := notifySpec(t, "ready", "beat:2:5ms", "trigger", "sleep")
	spec.Heartbeat = procbridge.Heartbeat{Interval: time.Second, Timeout: 10 * time.Second}
	p, err := procbridge.Start(context.Background(), spec)
	require.NoError(t, err)
	nextEvent(t, p) // Ready
	e := nextEvent(t, p)
	hung, ok := e.(procbridge.Hung)
	require.True(t, ok, "want Hung, got %v", e)
	assert.Equal(t, "triggered", hung.Err.Kind)
	assert.ErrorIs(t, hung.Err, procbridge.ErrHung)
	assert.Equal(t, procbridge.ExitKilledHung, exitedEvent(t, p).Exit.Kind)
}

// TestNotifyForgedSender: datagrams from a process that is not the child
// are refused and counted; they neither beat, nor set the status, nor
// hang it, nor name a MAINPID that would let them in.
func TestNotifyForgedSender(t *testing.T) {
	spec := notifySpec(t, "ready", "status:mine", "wait", "exit:0")
	spec.Heartbeat = procbridge.Heartbeat{Interval: 5 * time.Second, Timeout: 20 * time.Second}
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer w.Close()
	p, err := startWithStdin(spec, r)
	r.Close()
	require.NoError(t, err)
	nextEvent(t, p) // Ready
	waitFor(t, "its STATUS=", func() bool { return p.Status() == "mine" })
	before := beatCount(p)

	addr := notifySocketOf(t, p.Pid())
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	defer unix.Close(fd)
	forged := []string{
		fmt.Sprintf("MAINPID=%d", os.Getpid()),
		"STATUS=forged\nWATCHDOG=1",
		"WATCHDOG=trigger",
		"STOPPING=1",
	}
	for _, msg := range forged {
		require.NoError(t, unix.Sendto(fd, []byte(msg), 0, &unix.SockaddrUnix{Name: addr}))
	}
	w.Close() // the daemon exits 0
	x := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitClean, x.Exit.Kind, "not hung, not stopped: %v", x)
	assert.Equal(t, uint64(len(forged)), x.Refused)
	assert.Equal(t, "mine", p.Status())
	assert.Equal(t, before, beatCount(p))
	assert.Contains(t, x.String(), "4 notify messages refused")
}

// startWithStdin starts spec with r as the child's stdin, through a
// wrapper the bridge does not have: the daemon reads its stdin from an
// extra file instead.
func startWithStdin(spec procbridge.Spec, r *os.File) (*procbridge.Process, error) {
	spec.Args = append([]string{}, spec.Args...)
	spec.ExtraFiles = []*os.File{r}
	spec.Env = append(spec.Env, "PB_NOTIFY_STDIN=6")
	return procbridge.Start(context.Background(), spec)
}

// TestNotifyReadyTimeout: a daemon that never sends READY=1 is not ready;
// its ready timeout applies.
func TestNotifyReadyTimeout(t *testing.T) {
	spec := notifySpec(t, "status:starting", "sleep")
	spec.ReadyTimeout = 200 * time.Millisecond
	_, err := procbridge.Start(context.Background(), spec)
	assert.ErrorIs(t, err, procbridge.ErrStartTimeout)
}

// TestNotifyReadyThenExit: READY=1 and an exit in one breath is a start,
// then an exit.
func TestNotifyReadyThenExit(t *testing.T) {
	p, err := procbridge.Start(context.Background(), notifySpec(t, "ready", "exit:3"))
	require.NoError(t, err)
	nextEvent(t, p) // Ready
	x := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitCode, x.Exit.Kind)
	assert.Equal(t, 3, x.Exit.Code)
}

// TestNotifyStopping: after STOPPING=1 a silent daemon is not hung; it is
// killed a stop grace later, stopped; one that exits on its own is told
// by its status.
func TestNotifyStopping(t *testing.T) {
	hb := procbridge.Heartbeat{Interval: 10 * time.Millisecond, Timeout: 40 * time.Millisecond}
	t.Run("silent", func(t *testing.T) {
		spec := notifySpec(t, "ready", "beat:2:5ms", "stopping", "sleep")
		spec.Heartbeat, spec.StopGrace = hb, 400*time.Millisecond
		p, err := procbridge.Start(context.Background(), spec)
		require.NoError(t, err)
		nextEvent(t, p) // Ready
		e := nextEvent(t, p)
		x, ok := e.(procbridge.Exited)
		require.True(t, ok, "want Exited, got %v", e)
		assert.Equal(t, procbridge.ExitStopped, x.Exit.Kind)
		assert.Equal(t, syscall.SIGKILL, x.Exit.Signal)
	})
	t.Run("exits", func(t *testing.T) {
		spec := notifySpec(t, "ready", "stopping", "exit:0")
		spec.Heartbeat = hb
		p, err := procbridge.Start(context.Background(), spec)
		require.NoError(t, err)
		nextEvent(t, p) // Ready
		assert.Equal(t, procbridge.ExitClean, exitedEvent(t, p).Exit.Kind)
	})
}

// TestNotifyNotificationFD: s6's readiness: a newline on the descriptor
// the spec names.
func TestNotifyNotificationFD(t *testing.T) {
	spec := procbridge.Spec{
		Path:           "/bin/sh",
		Args:           []string{"-c", `read x < /dev/null; [ -e /proc/self/fd/8 ] || exit 4; echo >&8; exec sleep 1000`},
		NotificationFD: 8,
		StopGrace:      time.Second,
	}
	p, err := procbridge.Start(context.Background(), spec)
	require.NoError(t, err)
	nextEvent(t, p) // Ready
	_, err = p.Stop(context.Background())
	require.NoError(t, err)

	spec.Args = []string{"-c", "exec sleep 1000"} // never writes the newline
	spec.ReadyTimeout = 200 * time.Millisecond
	_, err = procbridge.Start(context.Background(), spec)
	assert.ErrorIs(t, err, procbridge.ErrStartTimeout)
}

// TestNotifySystemdNotify runs a shell daemon that speaks through
// systemd's own systemd-notify: ready, beats, then a hang. systemd-notify
// speaks for its parent, the shell, with the shell's pid as the sender's
// credentials, which takes CAP_SYS_ADMIN.
func TestNotifySystemdNotify(t *testing.T) {
	tool, err := exec.LookPath("systemd-notify")
	if err != nil {
		t.Skip("no systemd-notify on this machine")
	}
	if os.Geteuid() != 0 {
		t.Skip("systemd-notify speaks for the shell only with CAP_SYS_ADMIN")
	}
	script := tool + ` --ready --status="up as $$"
i=0
while [ $i -lt 5 ]; do ` + tool + ` WATCHDOG=1; sleep 0.05; i=$((i+1)); done
exec sleep 1000`
	spec := procbridge.Spec{
		Path:      "/bin/sh",
		Args:      []string{"-c", script},
		Notify:    true,
		Heartbeat: procbridge.Heartbeat{Interval: 250 * time.Millisecond, Timeout: time.Second},
	}
	p, err := procbridge.Start(context.Background(), spec)
	require.NoError(t, err)
	nextEvent(t, p) // Ready
	assert.Equal(t, fmt.Sprintf("up as %d", p.Pid()), p.Status())
	e := nextEvent(t, p)
	hung, ok := e.(procbridge.Hung)
	require.True(t, ok, "want Hung, got %v", e)
	assertAsleep(t, hung)
	assert.GreaterOrEqual(t, beatCount(p), uint64(5))
	x := exitedEvent(t, p)
	assert.Equal(t, procbridge.ExitKilledHung, x.Exit.Kind)
	assert.Zero(t, x.Refused, "its barriers are answered, not refused")
}

// TestNotifySpecErrors: a spec that cannot work names the field and value.
func TestNotifySpecErrors(t *testing.T) {
	extra, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer extra.Close()
	for _, tc := range []struct {
		name  string
		spec  procbridge.Spec
		field string
		value string
	}{
		{"go worker", procbridge.Spec{Worker: "sigkill", Notify: true}, "Notify", "true"},
		{"sdk", procbridge.Spec{Path: "/bin/true", SDK: true, Notify: true}, "Notify", "true"},
		{"fd with sdk", procbridge.Spec{Path: "/bin/true", SDK: true, NotificationFD: 9}, "NotificationFD", "9"},
		{"fd taken", procbridge.Spec{Path: "/bin/true", NotificationFD: 4}, "NotificationFD", "4"},
		{"fd of an extra file", procbridge.Spec{Path: "/bin/true", NotificationFD: 6, ExtraFiles: []*os.File{extra}}, "NotificationFD", "6"},
		{"negative fd", procbridge.Spec{Path: "/bin/true", NotificationFD: -1}, "NotificationFD", "-1"},
		{"fd too high", procbridge.Spec{Path: "/bin/true", NotificationFD: 5000}, "NotificationFD", "5000"},
		{"heartbeat without notify", procbridge.Spec{Path: "/bin/true", NotificationFD: 9, Heartbeat: procbridge.Heartbeat{Interval: time.Second, Timeout: 2 * time.Second}}, "Heartbeat.Interval", "1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate()
			var se *procbridge.SpecError
			require.True(t, errors.As(err, &se), "want a SpecError, got %v", err)
			assert.Equal(t, tc.field, se.Field)
			assert.Equal(t, tc.value, se.Value)
			t.Log(err)
		})
	}
	assert.NoError(t, (&procbridge.Spec{Path: "/bin/true", Notify: true, NotificationFD: 6,
		Heartbeat: procbridge.Heartbeat{Interval: time.Second, Timeout: 2 * time.Second}}).Validate())
}

func beatCount(p *procbridge.Process) uint64 {
	n, _ := procbridge.Beats(p)
	return n
}

// assertAsleep checks a hang of a daemon that sleeps: asleep, or, on a
// machine too loaded to tell, held up past the cap.
func assertAsleep(t *testing.T, hung procbridge.Hung) {
	t.Helper()
	if hung.Err.Kind == "held up" {
		t.Logf("the machine held it up past the cap: %v", hung.Err)
		return
	}
	assert.Equal(t, "asleep", hung.Err.Kind, "%v", hung.Err)
}

// TestNotifyProtocolDoc: docs/protocol.md names what a notify child gets
// and every message the bridge acts on.
func TestNotifyProtocolDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/protocol.md")
	require.NoError(t, err)
	for _, s := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
		"`READY=1`", "`WATCHDOG=1`", "`WATCHDOG=trigger`", "`STOPPING=1`", "`STATUS=…`", "`MAINPID=N`", "`BARRIER=1`",
		"Spec.NotificationFD", "at most 4096 bytes"} {
		assert.Contains(t, string(doc), s)
	}
}
