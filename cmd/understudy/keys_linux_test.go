package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal of 40 rows of 160 columns: its master,
// which the test reads and types on, and its slave, the command's terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	require.NoError(t, unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0))
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	require.NoError(t, err)
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 160}))
	return m, s
}

// ptyRun is `understudy run --ui live` on a pseudo-terminal.
type ptyRun struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	exited chan struct{}

	mu     sync.Mutex
	screen bytes.Buffer // everything drawn
	drawn  chan struct{}
}

func startPTY(t *testing.T, spec string) *ptyRun {
	t.Helper()
	m, s := openPTY(t)
	cmd := exec.Command(os.Args[0], "run", "--ui", "live", "--socket", "none", writeSpec(t, spec))
	cmd.Env = append(os.Environ(), envCLI+"=1", "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	require.NoError(t, cmd.Start())
	p := &ptyRun{t: t, cmd: cmd, master: m, exited: make(chan struct{}), drawn: make(chan struct{}, 1)}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := m.Read(buf)
			p.mu.Lock()
			p.screen.Write(buf[:n])
			p.mu.Unlock()
			select {
			case p.drawn <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// frame is the last whole frame drawn, its escapes taken out.
func (p *ptyRun) frame() string {
	p.mu.Lock()
	s := p.screen.String()
	p.mu.Unlock()
	end := strings.LastIndex(s, "\x1b[J")
	if end < 0 {
		return ""
	}
	start := strings.LastIndex(s[:end], "\x1b[H")
	if start < 0 {
		return ""
	}
	return regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`).ReplaceAllString(s[start:end], "")
}

// waitFrame waits for a frame that match accepts and returns it.
func (p *ptyRun) waitFrame(what string, match func(string) bool) string {
	p.t.Helper()
	timeout := time.After(deadline)
	for {
		if f := p.frame(); match(f) {
			return f
		}
		select {
		case <-p.drawn:
		case <-p.exited:
			if f := p.frame(); match(f) {
				return f
			}
			p.t.Fatalf("the command exited before the screen showed %s; last frame:\n%s", what, p.frame())
		case <-timeout:
			p.t.Fatalf("the screen did not show %s within %v; last frame:\n%s", what, deadline, p.frame())
		}
	}
}

func (p *ptyRun) press(keys string) {
	p.t.Helper()
	_, err := p.master.Write([]byte(keys))
	require.NoError(p.t, err)
}

// rowPid is the pid on child's row in frame, when it is running.
func rowPid(frame, child string) int {
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(child) + `\s+running\s+(\d+)`).FindStringSubmatch(frame)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestLiveViewKeys drives the live view's keys on a pseudo-terminal:
// select a child, restart it, see its output, kill it after a y/n, quit.
func TestLiveViewKeys(t *testing.T) {
	p := startPTY(t, `
children:
  - {name: a, command: sleep, args: [1000]}
  - name: b
    command: sh
    args: [-c, 'echo "hello from b $$"; exec sleep 1000']
    stdout: lines
`)
	f := p.waitFrame("both children running and the keys", func(f string) bool {
		return rowPid(f, "a") != 0 && rowPid(f, "b") != 0 && strings.Contains(f, "keys: ")
	})
	before := rowPid(f, "b")
	p.waitFrame("b's first line among the events", func(f string) bool {
		return strings.Contains(f, "hello from b "+strconv.Itoa(before))
	})

	// Down to b, then r: b restarts, with a new process.
	p.press("j")
	pressed := time.Now()
	p.press("r")
	f = p.waitFrame("b restarted by r", func(f string) bool {
		pid := rowPid(f, "b")
		return pid != 0 && pid != before && strings.Contains(f, "restart root/b: restarted")
	})
	restarted := rowPid(f, "b")
	t.Logf("b: pid %d, restarted by r as %d; the screen showed it %v after the key", before, restarted, time.Since(pressed).Round(time.Millisecond))

	// o: b's last lines, from both of its processes.
	p.press("o")
	p.waitFrame("b's output", func(f string) bool {
		return strings.Contains(f, "output of root/b") &&
			strings.Contains(f, "hello from b "+strconv.Itoa(before)) && strings.Contains(f, "hello from b "+strconv.Itoa(restarted))
	})
	// Up to a, whose output is not captured.
	p.press("\x1b[A")
	p.waitFrame("that a's output is not captured", func(f string) bool {
		return strings.Contains(f, "output of root/a") && strings.Contains(f, "not captured")
	})
	p.press("o")

	// K asks first; n sends nothing, y kills, and a restarts.
	a := rowPid(p.frame(), "a")
	p.press("K")
	p.waitFrame("the kill's question", func(f string) bool { return strings.Contains(f, "kill root/a with SIGKILL? y/n") })
	p.press("n")
	p.waitFrame("the kill not sent", func(f string) bool { return strings.Contains(f, "kill root/a: not sent") })
	assert.Equal(t, a, rowPid(p.frame(), "a"))
	p.press("K")
	p.waitFrame("the kill's question", func(f string) bool { return strings.Contains(f, "kill root/a with SIGKILL? y/n") })
	p.press("y")
	p.waitFrame("a killed and restarted", func(f string) bool {
		pid := rowPid(f, "a")
		return strings.Contains(f, "kill root/a: sent SIGKILL") && pid != 0 && pid != a
	})

	// s stops a, S starts it again; s again on a stopped child is refused.
	p.press("s")
	p.waitFrame("a stopped", func(f string) bool { return strings.Contains(f, "stop root/a: stopped") })
	p.press("s")
	p.waitFrame("a second stop refused", func(f string) bool { return strings.Contains(f, "stop root/a: refused: root/a is stopped already") })
	p.press("S")
	p.waitFrame("a started", func(f string) bool { return strings.Contains(f, "start root/a: started") && rowPid(f, "a") != 0 })

	// q stops the tree as Ctrl-C does, and the terminal is as it was.
	p.press("q")
	select {
	case <-p.exited:
	case <-time.After(deadline):
		t.Fatalf("q did not stop the tree within %v; last frame:\n%s", deadline, p.frame())
	}
	assert.Equal(t, 0, p.cmd.ProcessState.ExitCode())
	p.waitFrame("the tree stopped", func(f string) bool { return strings.Contains(f, "stopped cleanly") })
	tio, err := unix.IoctlGetTermios(int(p.cmd.Stdin.(*os.File).Fd()), unix.TCGETS)
	require.NoError(t, err)
	assert.NotZero(t, tio.Lflag&unix.ICANON, "the terminal is back in canonical mode")
	assert.NotZero(t, tio.Lflag&unix.ECHO, "the terminal echoes again")
}
