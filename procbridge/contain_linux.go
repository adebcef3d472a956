//go:build linux

package procbridge

import (
	"errors"
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
// leaves the group (setsid) is not reached while this process lives. When
// this process calls worker.Main, a keeper (the program re-executed) is
// told each worker's process group as it starts and ends, and every
// worker carries a marker in its environment (linux.MarkEnv) that its
// descendants inherit: when this process dies, the keeper kills the groups,
// then every process that carries the marker. It misses a descendant that
// left its group and scrubbed its environment. Without worker.Main there is
// no keeper in this mode: the workers die of their parent-death signal,
// their children outlive them.
type containMode int

const (
	containPgroup containMode = iota
	containCgroup
)

// The keeper's kinds (KeeperForTest).
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

	mark string // pgroup mode: the value of linux.MarkEnv

	mu     sync.Mutex
	keeper string       // its kind, or "" when none runs
	kerr   error        // why none runs
	kproc  *os.Process  // the keeper
	kpidfd int          // its pidfd, or -1
	kw     *os.File     // the write end of its pipe
	groups map[int]bool // pgroup mode: the groups the keeper was told of
}

var containment containState

// forcePgroup makes the decision pgroup mode whatever the host offers,
// and forceShellKeeper the keeper the shell even when worker.Main was
// called (tests; set before the first start).
var forcePgroup, forceShellKeeper atomic.Bool

// contained returns the containment mode, deciding it the first time.
func contained() containMode {
	containment.once.Do(decideContainment)
	return containment.mode
}

func decideContainment() {
	c := &containment
	c.kpidfd, c.groups = -1, map[int]bool{}
	c.why = "process groups forced"
	if !forcePgroup.Load() {
		d, err := linux.MakeDomain("understudy." + strconv.Itoa(os.Getpid()))
		if err == nil {
			c.mode, c.domain, c.why = containCgroup, d, ""
		} else {
			c.why = err.Error()
		}
	}
	if c.mode == containPgroup {
		c.mark = strconv.Itoa(os.Getpid()) + "." + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
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
	if registry.MainCalled() && !(forceShellKeeper.Load() && c.mode == containCgroup) {
		exe, err := os.Executable()
		if err != nil {
			c.kerr = fmt.Errorf("re-execute self: %w", err)
			return
		}
		how := "cgroup:" + c.domain.Path
		if c.mode == containPgroup {
			how = "pgroup:" + c.mark
		}
		// Its title in ps says what it is (the program is found by path).
		kind, path, argv = keeperReexec, exe, []string{"understudy: keeper"}
		env = append(env, linux.KeeperEnv+"="+how)
	} else if c.mode == containPgroup {
		c.kerr = errors.New("no keeper without cgroups unless the program calls worker.Main")
		return
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
	for g := range c.groups { // a keeper that replaces one that died
		fmt.Fprintf(w, "+%d\n", g)
	}
}

// tellKeeper tells the keeper, in pgroup mode, of a worker's process group
// (on, from its start) or that it was killed (off).
func (c *containState) tellKeeper(pgid int, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	sign := '+'
	if on {
		c.groups[pgid] = true
	} else {
		delete(c.groups, pgid)
		sign = '-'
	}
	if c.kw != nil {
		fmt.Fprintf(c.kw, "%c%d\n", sign, pgid) // one write, shorter than PIPE_BUF
	}
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

// enterLeaf prepares the fork of process p. In cgroup mode it makes p's
// leaf and sets sys to fork the process into it, and returns the leaf's
// descriptor for forked (-1 if the leaf could not be made: then the
// process is started in its process group alone). In pgroup mode it adds
// the marker to env and returns -1.
func (p *Process) enterLeaf(sys *syscall.SysProcAttr, env *[]string) int {
	mode := contained()
	containment.keepKeeper()
	if mode != containCgroup {
		*env = append(*env, linux.MarkEnv+"="+containment.mark)
		return -1
	}
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

// forked closes the leaf's descriptor once the fork is done, and removes
// the leaf if the fork failed; in pgroup mode it tells the keeper of the
// new process group.
func (p *Process) forked(pid, fd int, forkErr error) {
	if containment.mode == containPgroup && forkErr == nil {
		containment.tellKeeper(pid, true)
	}
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
	if containment.mode == containPgroup {
		containment.tellKeeper(p.pid, false) // its group was killed
		return
	}
	leaf := p.os.leaf
	if leaf.Path == "" {
		return
	}
	leaf.Kill()
	leaf.WaitEmpty(leafBound)
	if leaf.OOMKills() > 0 {
		p.oomKilled = true
	}
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
