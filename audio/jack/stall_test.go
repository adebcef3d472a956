//go:build jack

package jack

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/internal/jackserver"
)

// The staller role: the test binary re-executed to stop this process and
// its JACK server together, again and again, as a machine that pauses does
// (a hypervisor's steal, a host under load), or each alone: the server
// runs its late periods back to back, or runs periods without its clients,
// and the clients run late, some twice in one period, some before the
// client they listen to.
func init() { roles = append(roles, staller) }

const stallEnv = "UNDERSTUDY_JACK_STALL" // "pid,pid:count:gap-ms:longest-ms"

// staller runs the staller role when the binary was re-executed as one,
// and exits.
func staller() {
	plan, ok := os.LookupEnv(stallEnv)
	if !ok {
		return
	}
	if err := stall(plan); err != nil {
		fmt.Fprintln(os.Stderr, "staller:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func stall(plan string) error {
	f := strings.Split(plan, ":")
	if len(f) != 4 {
		return fmt.Errorf("plan %q: want pids:count:gap-ms:longest-ms", plan)
	}
	var pids []int
	for _, p := range strings.Split(f[0], ",") {
		pid, err := strconv.Atoi(p)
		if err != nil {
			return fmt.Errorf("pid %q: %w", p, err)
		}
		pids = append(pids, pid)
	}
	var n [3]int
	for i := range n {
		v, err := strconv.Atoi(f[i+1])
		if err != nil || v < 1 {
			return fmt.Errorf("plan %q: field %d is not a positive integer", plan, i+2)
		}
		n[i] = v
	}
	count, gap, longest := n[0], time.Duration(n[1])*time.Millisecond, n[2]
	signal := func(pids []int, sig syscall.Signal) {
		for _, pid := range pids {
			syscall.Kill(pid, sig)
		}
	}
	defer signal(pids, syscall.SIGCONT)
	for k := range count {
		time.Sleep(gap)
		// Stalls from 1 ms to longest, spread: a period, a few, many;
		// of all the processes, then of each alone in turn.
		d := time.Duration(1+(k*7919)%longest) * time.Millisecond
		which := pids
		if i := k % (len(pids) + 1); i < len(pids) {
			which = pids[i : i+1]
		}
		signal(which, syscall.SIGSTOP)
		time.Sleep(d)
		signal(which, syscall.SIGCONT)
	}
	return nil
}

// stallDuring starts a staller that stops this process and the server s
// count times, one stall every gap; the returned func waits for it to end.
func stallDuring(t *testing.T, count int, gap time.Duration, longest time.Duration) func(s *server) func() {
	return func(s *server) func() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d,%d:%d:%d:%d", stallEnv, os.Getpid(), s.Cmd.Process.Pid,
			count, gap.Milliseconds(), longest.Milliseconds()))
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		return func() {
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				require.NoError(t, err, "the staller")
			case <-time.After(deadline):
				cmd.Process.Kill()
				<-done
				t.Fatal("the staller did not end")
			}
		}
	}
}

// TestJackInThroughStalls: the jack_in graph heard through twenty pauses
// (of this process and the server together, of this process alone and of
// the server alone, in turn; 1 to 30 ms each),
// with server xruns and late, repeated and out-of-order callbacks: what is
// heard is at one latency, the first block's, to the frame.
func TestJackInThroughStalls(t *testing.T) {
	if jackserver.PipeWire() {
		t.Skip("under PipeWire (0.3.65) a stall can still move one block by a period, and no xrun is reported: open")
	}
	const blocks = 750 // 2 s
	r := playInput(t, blocks, nil, stallDuring(t, 20, 60*time.Millisecond, 30*time.Millisecond))
	r.requireConstantLatency(t, blocks)
	require.Positive(t, r.rep.Xruns, "the stalls caused no server xrun")
}
