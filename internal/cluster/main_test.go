//go:build linux

package cluster_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/cluster"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/internal/testproc"
	"github.com/understudy/understudy/procbridge/worker"
)

// TestMain lets the test binary be, besides the tests: a worker, the lease
// keeper, a node agent (nodeRole) or a supervising program (ownerRole).
// A supervising program keeps its remote actor system (its gRPC server)
// for its life, and protoactor's remote leaves gRPC connections to nodes
// that died behind it, retrying: those are not counted as leaks.
func TestMain(m *testing.M) {
	worker.Main()
	cluster.KeeperMain()
	nodeRole()
	ownerRole()
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	testproc.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/understudy/understudy/procbridge.forkLoop"),
		goleak.IgnoreTopFunction("google.golang.org/grpc.(*addrConn).resetTransport"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc.(*Server).Serve"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/remote.(*endpointWriter).initialize"),
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	)
}

const nodeRoleEnv = "CLUSTER_TEST_NODE" // name,listen

// nodeRole runs a node agent until SIGTERM, its logs on stderr, and
// prints "listening ADDR" on stdout once it listens.
func nodeRole() {
	v := os.Getenv(nodeRoleEnv)
	if v == "" {
		return
	}
	name, listen, _ := strings.Cut(v, ",")
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// CLUSTER_TEST_CPUPROFILE=DIR writes each agent's CPU profile to
	// DIR/node-NAME.pprof.
	if dir := os.Getenv("CLUSTER_TEST_CPUPROFILE"); dir != "" {
		if f, err := os.Create(filepath.Join(dir, "node-"+name+".pprof")); err == nil {
			_ = pprof.StartCPUProfile(f)
		}
	}
	err := cluster.RunNode(ctx, cluster.NodeConfig{
		Name: name, Listen: listen,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Ready:  func(addr string) { fmt.Printf("listening %s\n", addr) },
	})
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func init() {
	// copy records its life in the file named by its first argument: a
	// line "start EPOCH NODE T" when it begins (T: CLOCK_MONOTONIC ns),
	// "stop EPOCH NODE T" when it is stopped. It holds an exclusive lock
	// on the file ARG.lock for as long as it lives (the kernel lets go
	// when it dies, however it dies): a copy that cannot take it at once
	// runs beside another, and writes "overlap EPOCH NODE T".
	worker.Register("copy", func(ctx context.Context, w *worker.Worker) error {
		log := os.Args[1]
		epoch, node := os.Getenv(cluster.EpochEnv), os.Getenv(cluster.NodeEnv)
		lock, err := os.OpenFile(log+".lock", os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return err
		}
		what := "start"
		if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			what = "overlap"
		}
		record(log, what, epoch, node)
		w.Ready()
		<-ctx.Done()
		record(log, "stop", epoch, node)
		return nil
	})
}

func record(path, what, epoch, node string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s %s %d\n", what, epoch, node, mono.Now())
}

// agent is a node agent running as a process of its own.
type agent struct {
	name string
	addr string
	cmd  *exec.Cmd

	mu    sync.Mutex
	lines []string
	cond  *sync.Cond
}

// startAgent starts the node agent name on a free loopback port.
func startAgent(t testing.TB, name string) *agent {
	t.Helper()
	return startAgentAt(t, name, "127.0.0.1:0")
}

// startAgentAt starts the node agent name listening on listen.
func startAgentAt(t testing.TB, name, listen string) *agent {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{name: name}
	a.cond = newCond(a)
	a.cmd = exec.Command(exe)
	a.cmd.Env = append(os.Environ(), nodeRoleEnv+"="+name+","+listen)
	startReading(t, a)
	line := a.waitLine(t, "listening ")
	a.addr = strings.TrimPrefix(line[strings.Index(line, "listening "):], "listening ")
	return a
}

func newCond(a *agent) *sync.Cond { return sync.NewCond(&a.mu) }

// startReading starts a's command and collects its output lines.
func startReading(t testing.TB, a *agent) {
	t.Helper()
	stdout, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := a.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = a.cmd.Process.Signal(syscall.SIGCONT)
		_ = a.cmd.Process.Signal(syscall.SIGTERM)
		_ = a.cmd.Wait()
	})
	go a.read(stdout)
	go a.read(stderr)
}

func (a *agent) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		a.mu.Lock()
		a.lines = append(a.lines, sc.Text())
		a.cond.Broadcast()
		a.mu.Unlock()
	}
}

// waitLine waits for a line of the agent's output holding want, and
// returns the first.
func (a *agent) waitLine(t testing.TB, want string) string { return a.waitNth(t, want, 1) }

// waitNth waits until nth lines of the agent's output hold want, and
// returns the nth.
func (a *agent) waitNth(t testing.TB, want string, nth int) string {
	t.Helper()
	deadline := time.AfterFunc(testproc.Deadline, func() {
		a.mu.Lock()
		a.cond.Broadcast()
		a.mu.Unlock()
	})
	defer deadline.Stop()
	end := time.Now().Add(testproc.Deadline)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		seen := 0
		for _, l := range a.lines {
			if strings.Contains(l, want) {
				if seen++; seen == nth {
					return l
				}
			}
		}
		if time.Now().After(end) {
			t.Fatalf("node %s: no line %d with %q in:\n%s", a.name, nth, want, strings.Join(a.lines, "\n"))
		}
		a.cond.Wait()
	}
}

// output is what the agent printed so far.
func (a *agent) output() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.lines, "\n")
}

func (a *agent) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}
