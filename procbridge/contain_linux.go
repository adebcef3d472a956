//go:build linux

package procbridge

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/procbridge/internal/registry"
)

// Containment: what makes sure that no process outlives its worker, or
// the program that supervises it. It is decided once per process, at the
// first start, and is one of two modes.
//
// In cgroup mode (a cgroup v2 hierarchy where this process may create
// cgroups, with cgroup.kill and clone3's CLONE_INTO_CGROUP), this process
// makes a domain, understudy.<pid>, below its own cgroup, and each worker
// is forked straight into a leaf of its own below the domain, from its
// first instruction. When the worker ends, however it ends, the leaf is
// killed (cgroup.kill: every process in it, those that left the worker's
// process group or session too) and Exited is emitted only once the leaf
// is empty; the leaf is then removed. A keeper process, outside the domain,
// holds the read end of a pipe only this process can write to: when this
// process dies, by any signal, it kills the domain and removes it.
//
// In pgroup mode (no cgroup can be made) a worker and its children share a
// process group, killed when the worker ends or is stopped; a child that
// leaves the group (setsid) is not reached, and when this process is
// SIGKILLed only its workers die (their parent-death signal).
type containMode int

const (
	containPgroup containMode = iota
	containCgroup
)

// The keeper's kinds, as check reports them.
const (
	keeperReexec = "re-executed program"
	keeperShell  = "/bin/sh"
)

// containState is the process's containment.
type containState struct {
	once   sync.Once
	mode   containMode
	domain linux.Cgroup
	why    string // why pgroup mode
	seq    atomic.Uint64

	mu     sync.Mutex
	keeper string      // its kind, or "" when none runs
	kerr   error       // why none runs
	kproc  *os.Process // the keeper
	kpidfd int         // its pidfd, or -1
	kw     *os.File    // the write end of its pipe
}

var containment containState

// forcePgroup makes the decision pgroup mode whatever the host offers
// (tests; set before the first start).
var forcePgroup atomic.Bool

// contained returns the containment mode, deciding it the first time.
func contained() containMode {
	containment.once.Do(decideContainment)
	return containment.mode
}

func decideContainment() {
	c := &containment
	c.kpidfd = -1
	if forcePgroup.Load() {
		c.why = "process groups forced"
		return
	}
	d, err := linux.MakeDomain("understudy." + strconv.Itoa(os.Getpid()))
	if err != nil {
		c.why = err.Error()
		return
	}
	c.mode, c.domain = containCgroup, d
	c.mu.Lock()
	c.startKeeperLocked()
	c.mu.Unlock()
}

// startKeeperLocked starts the keeper: this program re-executed when it
// calls worker.Main (which runs the keeper), else a shell. It runs in a
// session of its own, outside the domain, with no parent-death signal, and
// gets nothing but the pipe's read end (its stdin) and /dev/null.
func (c *containState) startKeeperLocked() {
	c.keeper, c.kerr = "", nil
	null, err := nullFile()
	if err != nil {
		c.kerr = err
		return
	}
	kind, path, argv := keeperShell, "/bin/sh", []string{"sh", "-c", linux.KeeperScript, "sh", c.domain.Path}
	env := childEnv(nil)
	if registry.MainCalled() {
		exe, err := os.Executable()
		if err != nil {
			c.kerr = fmt.Errorf("re-execute self: %w", err)
			return
		}
		kind, path, argv = keeperReexec, exe, []string{os.Args[0]}
		env = append(env, linux.KeeperEnv+"="+c.domain.Path)
	}
	r, w, err := os.Pipe()
	if err != nil {
		c.kerr = err
		return
	}
	defer r.Close()
	proc, err := os.StartProcess(path, argv, &os.ProcAttr{
		Env:   env,
		Files: []*os.File{r, null, null},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		w.Close()
		c.kerr = fmt.Errorf("keeper: %w", err)
		return
	}
	c.keeper, c.kproc, c.kw = kind, proc, w
	c.kpidfd, _ = unix.PidfdOpen(proc.Pid, 0)
}

// keepKeeper starts a new keeper if the last one died (it is reaped then).
func (c *containState) keepKeeper() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kproc == nil || c.kpidfd < 0 {
		return
	}
	fds := []unix.PollFd{{Fd: int32(c.kpidfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 0); err != nil || n == 0 {
		return // alive
	}
	c.kproc.Wait()
	unix.Close(c.kpidfd)
	c.kw.Close()
	c.kproc, c.kpidfd, c.kw = nil, -1, nil
	c.startKeeperLocked()
}

// enterLeaf, in cgroup mode, makes the leaf of process p and sets sys to
// fork the process into it. It returns the leaf's descriptor for
// leafForked, or -1 (pgroup mode, or the leaf could not be made: then the
// process is started in its process group alone).
func (p *Process) enterLeaf(sys *syscall.SysProcAttr) int {
	if contained() != containCgroup {
		return -1
	}
	containment.keepKeeper()
	leaf, err := containment.domain.Sub(leafName(containment.seq.Add(1), p.name))
	if err != nil {
		return -1
	}
	fd, err := leaf.Open()
	if err != nil {
		leaf.Remove()
		return -1
	}
	p.os.leaf = leaf
	sys.UseCgroupFD, sys.CgroupFD = true, fd
	return fd
}

// leafForked closes the leaf's descriptor once the fork is done, and
// removes the leaf if the fork failed.
func (p *Process) leafForked(fd int, forkErr error) {
	if fd < 0 {
		return
	}
	unix.Close(fd)
	if forkErr != nil {
		p.os.leaf.Remove()
		p.os.leaf = linux.Cgroup{}
	}
}

// leafBound bounds the wait for a killed leaf to empty: a process stuck in
// the kernel (uninterruptible sleep) dies only when it comes out.
const leafBound = 5 * time.Second

// endLeaf, once the worker is dead, kills whatever is left in its leaf
// (the worker's descendants, wherever they went in the process tree),
// waits until the leaf is empty, and removes it with anything below it (a
// worker that supervises has a domain of its own there).
func (p *Process) endLeaf() {
	leaf := p.os.leaf
	if leaf.Path == "" {
		return
	}
	leaf.Kill()
	leaf.WaitEmpty(leafBound)
	leaf.RemoveAll()
}

// leafName is a cgroup name for a process of the given name: a sequence
// number, and the name with what a directory name cannot hold replaced.
func leafName(seq uint64, name string) string {
	var b strings.Builder
	b.WriteString(strconv.FormatUint(seq, 10))
	b.WriteByte('.')
	for i, r := range name {
		if i >= 48 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}
