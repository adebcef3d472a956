package cluster

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/understudy/understudy/internal/mono"
)

// The lease keeper is a small process beside a node agent that enforces
// the leases of the agent's copies even while the agent cannot run (a
// SIGSTOP, a long pause): the agent tells it each lease's deadline on
// CLOCK_MONOTONIC, the clock every process of the machine shares, and when
// a deadline passes without a renewal the keeper SIGKILLs every process
// whose environment carries the lease's token (and its process group).
// Finding the copies by their environment leaves no window between a fork
// and its registration. When the agent ends (its pipe closes) the keeper
// kills what it still keeps and exits.

// keeperEnv marks a process started as the lease keeper.
const keeperEnv = "UNDERSTUDY_LEASE_KEEPER"

// leaseEnv is the variable that carries a copy's lease token.
const leaseEnv = "UNDERSTUDY_LEASE"

// KeeperMain runs the lease keeper and exits when this process was started
// as one (by a node agent); otherwise it returns at once. Call it at the
// top of main, after worker.Main.
func KeeperMain() {
	if os.Getenv(keeperEnv) != "1" {
		return
	}
	os.Exit(runKeeper(os.Stdin))
}

// keeper is the agent's end of the keeper's pipe.
type keeper struct {
	mu  sync.Mutex
	w   io.WriteCloser
	cmd *exec.Cmd
	err error
}

func startKeeper() (*keeper, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cluster: lease keeper: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), keeperEnv+"=1")
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a SIGSTOP sent to the agent's group spares it
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("cluster: lease keeper: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cluster: lease keeper: %w", err)
	}
	return &keeper{w: w, cmd: cmd}, nil
}

// set gives token the deadline at (CLOCK_MONOTONIC ns).
func (k *keeper) set(token string, at int64) { k.send(fmt.Sprintf("L %s %d\n", token, at)) }

// drop forgets token: its copy is gone.
func (k *keeper) drop(token string) { k.send("D " + token + "\n") }

func (k *keeper) send(line string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return
	}
	if _, err := io.WriteString(k.w, line); err != nil {
		k.err = err
	}
}

// close ends the keeper, which kills what it still keeps, and waits for it.
func (k *keeper) close() error {
	k.mu.Lock()
	_ = k.w.Close()
	k.mu.Unlock()
	return k.cmd.Wait()
}

// runKeeper reads the agent's lines until its pipe closes.
func runKeeper(r io.Reader) int {
	type lease struct {
		at     int64
		sweeps int // sweeps done after the deadline
	}
	var mu sync.Mutex
	leases := map[string]*lease{}
	wake := make(chan struct{}, 1)
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			mu.Lock()
			switch {
			case len(f) == 3 && f[0] == "L":
				if at, err := strconv.ParseInt(f[2], 10, 64); err == nil {
					leases[f[1]] = &lease{at: at}
				}
			case len(f) == 2 && f[0] == "D":
				delete(leases, f[1])
			}
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	// After a deadline the keeper sweeps again a few times: a fork
	// under way at the deadline is caught by a later sweep.
	again := []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}
	timer := time.NewTimer(time.Hour)
	for {
		now := mono.Now()
		next := int64(-1)
		var due []string
		mu.Lock()
		for tok, l := range leases {
			at := l.at + int64(again[l.sweeps])
			if at <= now {
				due = append(due, tok)
				l.sweeps++
				if l.sweeps == len(again) {
					delete(leases, tok)
				}
				continue
			}
			if next < 0 || at < next {
				next = at
			}
		}
		mu.Unlock()
		if len(due) > 0 {
			killTokens(due)
			continue
		}
		wait := time.Hour
		if next >= 0 {
			wait = time.Duration(next - now)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-wake:
		case <-eof:
			mu.Lock()
			var all []string
			for tok := range leases {
				all = append(all, tok)
			}
			mu.Unlock()
			killTokens(all)
			return 0
		}
	}
}

// killTokens SIGKILLs every process (and its process group) whose
// environment carries one of tokens.
func killTokens(tokens []string) {
	if len(tokens) == 0 {
		return
	}
	want := make([][]byte, len(tokens))
	for i, t := range tokens {
		want[i] = []byte(leaseEnv + "=" + t)
	}
	self := os.Getpid()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(d + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if matches(kv, want) {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
				_ = syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}

func matches(kv []byte, want [][]byte) bool {
	for _, w := range want {
		if bytes.Equal(kv, w) {
			return true
		}
	}
	return false
}
