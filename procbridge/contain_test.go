//go:build linux

package procbridge_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/procbridge"
	"github.com/understudy/understudy/procbridge/worker"
)

// descendScript makes the three kinds of descendant a worker may leave: a
// child in its process group, a child that called setsid, and a daemon
// (double-forked, in a session of its own, its parent gone). It prints
// their pids, then "up".
const descendScript = `sleep 600 & echo $!
setsid sleep 601 & echo $!
sh -c 'setsid sh -c "sleep 602 & echo \$!" & wait'
echo up`

func init() {
	// descend is an SDK worker that leaves the descendants of
	// descendScript, prints their pids, then "up", and says ready.
	worker.Register("descend", func(ctx context.Context, w *worker.Worker) error {
		cmd := exec.Command("sh", "-c", descendScript)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fmt.Println(sc.Text())
			if sc.Text() == "up" {
				break
			}
		}
		w.Ready()
		<-ctx.Done()
		select {} // ignore the request: the kill must take everything
	})
}

// Roles of the test binary re-executed as a supervising program.
const (
	envContainSup  = "PB_CONTAIN_SUP"  // "cgroup", "cgroup-sh" (the shell keeper) or "pgroup": run containSup
	envContainMark = "PB_CONTAIN_MARK" // in the environment of all it starts
)

// containSup is a supervising program: it starts a worker without the SDK
// and one with it, each leaving the descendants of descendScript, prints
// READY once they all run, and waits to be killed.
func containSup() {
	switch os.Getenv(envContainSup) {
	case "pgroup":
		procbridge.ForcePgroupForTest()
	case "cgroup-sh":
		procbridge.ShellKeeperForTest()
	}
	specs := []procbridge.Spec{
		{Path: "sh", Args: []string{"-c", descendScript + "\nexec sleep 603"}, Stdout: procbridge.Lines},
		{Worker: "descend", Stdout: procbridge.Lines},
		{Path: "sh", Args: []string{"-c", descendScript + "\nexec sleep 603"}, Stdout: procbridge.Lines},
	}
	for _, spec := range specs {
		p, err := procbridge.Start(context.Background(), spec)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		for l := range p.Lines() {
			if l.Text == "up" {
				break
			}
		}
	}
	fmt.Println("READY")
	select {}
}

// requireCgroup skips the test where containment is not cgroup mode.
func requireCgroup(t testing.TB) {
	t.Helper()
	if ok, why := procbridge.ContainmentForTest(); !ok {
		t.Skipf("cgroup containment is not available on this host (%s): run as root, or in a delegated cgroup v2 subtree", why)
	}
}

// marked returns the live processes whose environment holds the marker.
func marked(mark string) []int {
	want := []byte(envContainMark + "=" + mark + "\x00")
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !strings.Contains(string(env), string(want)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			s := string(stat)
			if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X') {
				continue // a zombie: dead already
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// containProcs is how many processes containSup leaves at least: the
// program, its keeper, 3 workers, 3 × 3 descendants.
const containProcs = 1 + 1 + 3 + 9

// killing is what killSupervisor saw.
type killing struct {
	took    time.Duration // from the SIGKILL until every process was gone
	supGone time.Duration // until the supervising program itself was
	alive   []int         // what was still alive at the limit
	counted int           // processes carrying the marker before the kill
}

// killSupervisor runs containSup in the given mode, SIGKILLs it once its
// workers and their descendants run, and returns how long it took until
// every one of them was gone (pidfds readable), or the pids still alive
// after limit.
func killSupervisor(t testing.TB, mode string, limit time.Duration) killing {
	t.Helper()
	mark := fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano())
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envContainSup+"="+mode, envContainMark+"="+mark)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	readyc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY") || strings.HasPrefix(sc.Text(), "error") {
				readyc <- sc.Text()
				break
			}
		}
		close(readyc)
	}()
	select {
	case line := <-readyc:
		if line != "READY" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the supervising program: %q", line)
		}
	case <-time.After(deadline):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the supervising program not ready after %v", deadline)
	}
	// Every process is up by READY, but one in the middle of an exec
	// (setsid's of sleep) may not show its environment for a moment:
	// look again, with a deadline, until all are seen.
	pids := marked(mark)
	tick := time.NewTicker(time.Millisecond)
	for end := time.Now().Add(deadline); len(pids) < containProcs && time.Now().Before(end); pids = marked(mark) {
		<-tick.C
	}
	tick.Stop()
	var fds []unix.PollFd
	sup := -1
	for _, pid := range pids {
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			if pid == cmd.Process.Pid {
				sup = len(fds)
			}
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
	}
	var k killing
	defer func() {
		for _, f := range fds {
			unix.Close(int(f.Fd))
		}
	}()
	begin := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	left := len(fds)
	open := slices.Clone(fds)
	for left > 0 && time.Since(begin) < limit {
		n, err := unix.Poll(open, 10)
		if err != nil || n == 0 {
			continue
		}
		for i := range open {
			if open[i].Revents != 0 {
				if i == sup {
					k.supGone = time.Since(begin)
				}
				open[i].Fd, open[i].Revents = -1, 0
				left--
			}
		}
	}
	k.took, k.counted = time.Since(begin), len(pids)
	cmd.Wait()
	if left > 0 {
		k.alive = marked(mark)
		for _, pid := range k.alive {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return k
}

// TestNoOrphanAfterSupervisorKilled: when the supervising program is
// SIGKILLed, every worker (with the SDK or without) and every descendant
// of one ends: those in the worker's process group, those that called
// setsid, double-forked daemons. Its keeper kills its cgroup domain: the
// program re-executed, or the shell for a program that does not call
// worker.Main.
func TestNoOrphanAfterSupervisorKilled(t *testing.T) {
	requireCgroup(t)
	for _, keeper := range []struct{ name, mode string }{{"re-executed", "cgroup"}, {"shell", "cgroup-sh"}} {
		t.Run(keeper.name, func(t *testing.T) {
			k := killSupervisor(t, keeper.mode, 5*time.Second)
			assert.GreaterOrEqual(t, k.counted, containProcs, "processes carrying the marker")
			assert.Empty(t, k.alive, "processes alive 5s after the SIGKILL")
			t.Logf("%d processes, all gone %v after the SIGKILL (the supervising program after %v)", k.counted, k.took, k.supGone)
		})
	}
}

// TestNoOrphanAfterSupervisorKilledPgroup: the same without cgroups (forced
// here): the keeper kills the workers' process groups, then every process
// that carries the supervising process's marker.
func TestNoOrphanAfterSupervisorKilledPgroup(t *testing.T) {
	k := killSupervisor(t, "pgroup", 5*time.Second)
	assert.GreaterOrEqual(t, k.counted, containProcs, "processes carrying the marker")
	assert.Empty(t, k.alive, "processes alive 5s after the SIGKILL")
	t.Logf("%d processes, all gone %v after the SIGKILL (the supervising program after %v)", k.counted, k.took, k.supGone)
}

// TestLeafEndsDescendants: when a worker ends, by its own death or a
// Stop, a descendant that called setsid ends too, before Exited.
func TestLeafEndsDescendants(t *testing.T) {
	requireCgroup(t)
	for _, how := range []string{"dies", "stopped"} {
		t.Run(how, func(t *testing.T) {
			spec := procbridge.Spec{Path: "sh", Args: []string{"-c", descendScript + "\nexec sleep 603"}, Stdout: procbridge.Lines}
			p, err := procbridge.Start(ctxT(t), spec)
			require.NoError(t, err)
			assert.NotEmpty(t, procbridge.LeafForTest(p))
			var pids []int
			for {
				l := nextLine(t, p)
				if l == "up" {
					break
				}
				pid, err := strconv.Atoi(l)
				require.NoError(t, err, l)
				pids = append(pids, pid)
			}
			require.Len(t, pids, 3)
			var fds []int
			for _, pid := range pids {
				fd, err := unix.PidfdOpen(pid, 0)
				require.NoError(t, err)
				fds = append(fds, fd)
			}
			defer func() {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}()
			if how == "dies" {
				require.NoError(t, syscall.Kill(p.Pid(), syscall.SIGKILL))
			} else {
				_, err := p.Stop(ctxT(t))
				require.NoError(t, err)
			}
			exitedEvent(t, p)
			for i, fd := range fds {
				pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				n, _ := unix.Poll(pfd, 0)
				assert.Equal(t, 1, n, "descendant %d (pid %d) alive at Exited", i, pids[i])
			}
			_, err = os.Stat(procbridge.LeafForTest(p))
			assert.True(t, os.IsNotExist(err), "the leaf is removed: %v", err)
		})
	}
}

// BenchmarkSupervisorKilled reports the time from the SIGKILL of a
// supervising program (3 workers, 9 descendants) until every one of them
// is gone, its keeper included: in cgroup mode with the keeper the program
// re-executed (cgroup) or the shell (cgroup-sh), and without cgroups
// (pgroup, forced).
func BenchmarkSupervisorKilled(b *testing.B) {
	for _, mode := range []string{"cgroup", "cgroup-sh", "pgroup"} {
		b.Run(mode, func(b *testing.B) {
			if mode != "pgroup" {
				requireCgroup(b)
			}
			benchKill(b, mode)
		})
	}
}

func benchKill(b *testing.B, mode string) {
	var took, sup []time.Duration
	for b.Loop() {
		k := killSupervisor(b, mode, 5*time.Second)
		if len(k.alive) > 0 {
			b.Fatalf("alive 5s after the SIGKILL: %v", k.alive)
		}
		took, sup = append(took, k.took), append(sup, k.supGone)
	}
	pct := func(ds []time.Duration, p int) float64 {
		slices.Sort(ds)
		return float64(ds[(len(ds)-1)*p/100].Microseconds())
	}
	b.ReportMetric(pct(took, 50), "p50-µs")
	b.ReportMetric(pct(took, 99), "p99-µs")
	b.ReportMetric(pct(took, 100), "max-µs")
	b.ReportMetric(pct(sup, 50), "sup-p50-µs")
	b.ReportMetric(pct(sup, 100), "sup-max-µs")
	b.ReportMetric(0, "ns/op") // each op starts and tears down a program: not a figure
}
