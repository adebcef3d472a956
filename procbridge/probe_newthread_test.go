//go:build linux

package procbridge

import (
	"bufio"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProbeSeesNewThreads: a thread the worker makes after the probe
// opened is watched too. Here the only thread there at the open sleeps,
// and the one made after spins: a probe that watched only the first
// would find every thread asleep, as it would a worker whose runtime
// thread, made after the watch opened, waits for a CPU.
func TestProbeSeesNewThreads(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 here")
	}
	const script = `import sys, threading
sys.stdin.readline()
def spin():
    while True:
        pass
threading.Thread(target=spin, daemon=True).start()
print("spinning", flush=True)
sys.stdin.readline()
`
	cmd := exec.Command(py, "-c", script)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	pr := openProbe(cmd.Process.Pid)
	require.NotNil(t, pr)
	t.Cleanup(pr.close)
	require.Len(t, pr.threads, 1, "the interpreter's one thread at the open")
	pr.sample()

	_, err = in.Write([]byte("go\n"))
	require.NoError(t, err)
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "spinning\n", line)

	tick := time.NewTicker(time.Millisecond) // between looks, as the monitor's window is
	defer tick.Stop()
	timeout := time.After(30 * time.Second)
	for {
		if s := pr.sample(); s.runnable {
			require.Len(t, pr.threads, 2, "the spinning thread taken up")
			return
		}
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("the spinning thread made after the open never seen runnable in 30 s (%d threads watched)", len(pr.threads))
		}
	}
}
