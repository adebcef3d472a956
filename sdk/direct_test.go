//go:build linux

package sdk_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// These tests hand a scenario worker a segment written here from
// docs/protocol.md alone, with no supervisor: what an SDK does with a
// segment it must refuse, and on lifeline EOF when nothing else (no
// supervisor's keeper) would end its group.

// segmentHeader returns a segment of layout version 1 with one lane and
// no state or rings, as the protocol's layout rule places it.
func segmentHeader() []byte {
	const lanes = 1
	stateOff := 256 + lanes*512
	total := (stateOff + 4095) / 4096 * 4096
	mem := make([]byte, total)
	le := binary.LittleEndian
	le.PutUint64(mem[0:], 0x5944545352444e55)
	le.PutUint32(mem[8:], 1)
	le.PutUint32(mem[12:], 256)
	le.PutUint64(mem[16:], uint64(total))
	le.PutUint32(mem[28:], lanes)
	le.PutUint32(mem[32:], 512)
	le.PutUint64(mem[56:], 256)
	le.PutUint64(mem[64:], uint64(stateOff))
	le.PutUint64(mem[72:], uint64(stateOff))
	return mem
}

// memfd returns a memfd holding mem.
func memfd(t *testing.T, mem []byte) *os.File {
	t.Helper()
	fd, err := unix.MemfdCreate("sdk-test-segment", unix.MFD_CLOEXEC)
	require.NoError(t, err)
	f := os.NewFile(uintptr(fd), "segment")
	t.Cleanup(func() { f.Close() })
	_, err = f.Write(mem)
	require.NoError(t, err)
	return f
}

// direct returns the command that runs prog's scenario with seg as fd 3,
// the lifeline as fd 4, in lane and as the primary under epoch 0.
func direct(prog program, scenario string, seg, lifeline *os.File, lane string) *exec.Cmd {
	cmd := exec.Command(prog.Path, prog.Args...)
	env := []string{"UNDERSTUDY_SCENARIO=" + scenario, "UNDERSTUDY_SEGMENT_FD=3", "UNDERSTUDY_LANE=" + lane, "UNDERSTUDY_EPOCH=0"}
	for _, kv := range append(os.Environ(), prog.Env...) {
		if !strings.HasPrefix(kv, "UNDERSTUDY_") {
			env = append(env, kv)
		}
	}
	cmd.ExtraFiles = []*os.File{seg}
	if lifeline != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, lifeline)
		env = append(env, "UNDERSTUDY_LIFELINE_FD=4")
	}
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// TestRefusal: a worker handed a segment it must refuse writes the
// verdict at offset 24 and exits 78.
func TestRefusal(t *testing.T) {
	cases := []struct {
		name    string
		spoil   func(mem []byte)
		lane    string
		verdict uint32
	}{
		{"magic", func(mem []byte) { mem[0] ^= 0xff }, "0", 1},
		{"version", func(mem []byte) { binary.LittleEndian.PutUint32(mem[8:], 2) }, "0", 2},
		{"lane size", func(mem []byte) { binary.LittleEndian.PutUint32(mem[32:], 256) }, "0", 3},
		{"total", func(mem []byte) { binary.LittleEndian.PutUint64(mem[16:], 8192) }, "0", 3},
		{"offsets", func(mem []byte) { binary.LittleEndian.PutUint64(mem[72:], 4096) }, "0", 3},
		{"lane", func([]byte) {}, "1", 4},
		{"lane not a number", func([]byte) {}, "one", 4},
	}
	forEachSDK(t, func(t *testing.T, prog program) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				mem := segmentHeader()
				c.spoil(mem)
				seg := memfd(t, mem)
				cmd := direct(prog, "beat", seg, nil, c.lane)
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				require.True(t, errors.As(err, &ee), "want an exit status, got %v: %s", err, out)
				assert.Equal(t, 78, ee.ExitCode(), "%s", out)
				got := make([]byte, 4)
				_, err = seg.ReadAt(got, 24)
				require.NoError(t, err)
				assert.Equal(t, c.verdict, binary.LittleEndian.Uint32(got), "the verdict (%s)", out)
			})
		}
	})
}

// TestLifelineAlone: a child worker whose lifeline's write end is closed
// kills its own process group (its "sleep 600" with it) and exits.
func TestLifelineAlone(t *testing.T) {
	forEachSDK(t, func(t *testing.T, prog program) {
		seg := memfd(t, segmentHeader())
		r, w, err := os.Pipe()
		require.NoError(t, err)
		defer r.Close()
		cmd := direct(prog, "child", seg, r, "0")
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		linec := make(chan string, 1)
		go func() {
			sc := bufio.NewScanner(out)
			sc.Scan()
			linec <- sc.Text()
		}()
		var line string
		select {
		case line = <-linec:
		case <-time.After(deadline):
		}
		var child int
		if _, err := fmt.Sscanf(line, "child %d", &child); err != nil {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("the worker said %q", line)
		}
		cfd, err := unix.PidfdOpen(child, 0)
		require.NoError(t, err)
		defer unix.Close(cfd)
		require.NoError(t, w.Close()) // the supervisor is gone
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(deadline):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("the worker still runs %v after lifeline EOF", deadline)
		}
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "%v", err)
		pfd := []unix.PollFd{{Fd: int32(cfd), Events: unix.POLLIN}}
		n, _ := unix.Poll(pfd, int(deadline.Milliseconds()))
		if !assert.Equal(t, 1, n, "the worker's child is gone") {
			syscall.Kill(child, syscall.SIGKILL)
		}
	})
}
