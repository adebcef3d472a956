package cluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
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
//
// A renewal only moves a deadline later: the agent stores it in a slot of
// a page both share (a memfd), without waking the keeper, which reads the
// slot again when the deadline it slept to comes. Only a new lease, a
// deadline brought nearer (a lost lease: kill now) and a dropped one go
// down the pipe.

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

// keeperSlots is the number of deadlines the shared page holds; leases
// past it go down the pipe.
const keeperSlots = 512

// keeper is the agent's end of the keeper's pipe and shared page.
type keeper struct {
	mu    sync.Mutex
	w     io.WriteCloser
	cmd   *exec.Cmd
	err   error
	slots *[keeperSlots]atomic.Int64 // nil: none shared
	mem   []byte
	used  map[string]int // token → its slot
	free  []int
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
	k := &keeper{cmd: cmd, used: map[string]int{}}
	// The shared page; without one, every deadline goes down the pipe.
	if fd, err := unix.MemfdCreate("understudy-leases", unix.MFD_CLOEXEC); err == nil {
		f := os.NewFile(uintptr(fd), "leases")
		defer f.Close()
		if f.Truncate(keeperSlots*8) == nil {
			if mem, err := unix.Mmap(fd, 0, keeperSlots*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
				k.mem, k.slots = mem, (*[keeperSlots]atomic.Int64)(unsafe.Pointer(&mem[0]))
				for i := keeperSlots - 1; i >= 0; i-- {
					k.free = append(k.free, i)
				}
				cmd.ExtraFiles = []*os.File{f} // fd 3
			}
		}
	}
	w, err := cmd.StdinPipe()
	if err != nil {
		k.unmap()
		return nil, fmt.Errorf("cluster: lease keeper: %w", err)
	}
	if err := cmd.Start(); err != nil {
		k.unmap()
		return nil, fmt.Errorf("cluster: lease keeper: %w", err)
	}
	k.w = w
	return k, nil
}

func (k *keeper) unmap() {
	if k.mem != nil {
		_ = unix.Munmap(k.mem)
		k.mem, k.slots = nil, nil
	}
}

// set gives token the deadline at (CLOCK_MONOTONIC ns). A later deadline
// of a token that has a slot is only stored there.
func (k *keeper) set(token string, at int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.slots == nil {
		k.sendLocked(fmt.Sprintf("L %s %d\n", token, at))
		return
	}
	if i, ok := k.used[token]; ok {
		old := k.slots[i].Swap(at)
		if at < old {
			k.sendLocked(fmt.Sprintf("L %s %d %d\n", token, at, i)) // wake it: nearer
		}
		return
	}
	if len(k.free) == 0 {
		k.sendLocked(fmt.Sprintf("L %s %d\n", token, at))
		return
	}
	i := k.free[len(k.free)-1]
	k.free = k.free[:len(k.free)-1]
	k.used[token] = i
	k.slots[i].Store(at)
	k.sendLocked(fmt.Sprintf("L %s %d %d\n", token, at, i))
}

// pid names a process of token's copy.
func (k *keeper) pid(token string, pid int) { k.send(fmt.Sprintf("P %s %d\n", token, pid)) }

// drop forgets token: its copy is gone. Its slot is free again: the
// keeper reads the D line before the L line of the slot's next lease.
func (k *keeper) drop(token string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if i, ok := k.used[token]; ok {
		delete(k.used, token)
		k.free = append(k.free, i)
	}
	k.sendLocked("D " + token + "\n")
}

func (k *keeper) send(line string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.sendLocked(line)
}

func (k *keeper) sendLocked(line string) {
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
	err := k.cmd.Wait()
	k.mu.Lock()
	k.unmap()
	k.mu.Unlock()
	return err
}

// runKeeper reads the agent's lines until its pipe closes. It runs on one
// thread, raised to SCHED_FIFO where the process may (else a short
// slice), that sleeps in ppoll until the next deadline or a line: the
// kernel itself wakes it on time, whatever else the machine runs.
//
// The lines: "L TOKEN AT [SLOT]" gives a lease its deadline (CLOCK_MONOTONIC
// ns), and the slot of the shared page (fd 3) where later ones are
// stored; "P TOKEN PID" names a process of the copy, killed through a pidfd
// at once when the deadline passes, before the slower search of every
// process's environment for the token; "D TOKEN" forgets the lease.
func runKeeper(r *os.File) int {
	runtime.LockOSThread()
	linux.Raise(0)
	type lease struct {
		at     int64
		slot   int   // in the shared page; -1: none
		sweeps int   // sweeps done after the deadline
		pidfds []int // of the processes named by P lines
	}
	var slots *[keeperSlots]atomic.Int64
	if mem, err := unix.Mmap(3, 0, keeperSlots*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		slots = (*[keeperSlots]atomic.Int64)(unsafe.Pointer(&mem[0]))
	}
	leases := map[string]*lease{}
	get := func(tok string) *lease {
		l := leases[tok]
		if l == nil {
			l = &lease{at: -1, slot: -1}
			leases[tok] = l
		}
		return l
	}
	forget := func(tok string) {
		if l := leases[tok]; l != nil {
			for _, fd := range l.pidfds {
				unix.Close(fd)
			}
			delete(leases, tok)
		}
	}
	// After a deadline the keeper sweeps again a few times: a fork
	// under way at the deadline is caught by a later sweep.
	again := []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond, 500 * time.Millisecond}
	fd := int(r.Fd())
	var pending []byte
	buf := make([]byte, 4096)
	for {
		now := mono.Now()
		next := int64(-1)
		var due []string
		for tok, l := range leases {
			if l.slot >= 0 {
				// A renewal stored since: the sweeps start over.
				if v := slots[l.slot].Load(); v != l.at {
					l.at, l.sweeps = v, 0
				}
			}
			if l.at < 0 {
				continue
			}
			at := l.at + int64(again[l.sweeps])
			if at <= now {
				due = append(due, tok)
				continue
			}
			if next < 0 || at < next {
				next = at
			}
		}
		if len(due) > 0 {
			for _, tok := range due {
				for _, pfd := range leases[tok].pidfds {
					_ = unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0)
				}
			}
			killTokens(due)
			for _, tok := range due {
				l := leases[tok]
				if l.sweeps++; l.sweeps == len(again) {
					forget(tok)
				}
			}
			continue
		}
		var timeout *unix.Timespec
		if next >= 0 {
			ts := unix.NsecToTimespec(next - now)
			timeout = &ts
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Ppoll(fds, timeout, nil)
		if err != nil || n == 0 {
			continue // EINTR, or the deadline
		}
		m, err := unix.Read(fd, buf)
		if m <= 0 && err != unix.EINTR && err != unix.EAGAIN {
			// The agent is gone: kill what is still kept.
			var all []string
			for tok, l := range leases {
				for _, pfd := range l.pidfds {
					_ = unix.PidfdSendSignal(pfd, unix.SIGKILL, nil, 0)
				}
				all = append(all, tok)
			}
			killTokens(all)
			return 0
		}
		if m <= 0 {
			continue
		}
		pending = append(pending, buf[:m]...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			f := strings.Fields(string(pending[:i]))
			pending = pending[i+1:]
			switch {
			case (len(f) == 3 || len(f) == 4) && f[0] == "L":
				if at, err := strconv.ParseInt(f[2], 10, 64); err == nil {
					l := get(f[1])
					l.at, l.sweeps = at, 0
					if len(f) == 4 && slots != nil {
						if i, err := strconv.Atoi(f[3]); err == nil && i >= 0 && i < keeperSlots {
							l.slot = i
						}
					}
				}
			case len(f) == 3 && f[0] == "P":
				if pid, err := strconv.Atoi(f[2]); err == nil && pid > 0 {
					if pfd, err := unix.PidfdOpen(pid, 0); err == nil {
						l := get(f[1])
						l.pidfds = append(l.pidfds, pfd)
					}
				}
			case len(f) == 2 && f[0] == "D":
				forget(f[1])
			}
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
