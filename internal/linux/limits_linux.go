//go:build linux

package linux

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// PlanLimits decides where the caps of each limit controller go: into the
// cgroup v2 leaves below domain when the controller can be had there
// (EnableControllers), else into cgroup v1 groups below this process's
// own in the controller's v1 hierarchy; why says, for a controller with
// neither, what was missing. domain is the zero Cgroup without cgroup v2
// containment.
func PlanLimits(domain Cgroup) (p LimitPlan) {
	all := []string{CtlMemory, CtlCPU, CtlPids}
	p.V1, p.Why = map[string]V1Group{}, map[string]string{}
	if domain.Path != "" {
		p.V2 = EnableControllers(domain, all)
	}
	for _, ctl := range all {
		if slices.Contains(p.V2, ctl) {
			continue
		}
		home, err := V1Home(ctl)
		if err == nil {
			err = unix.Access(filepath.Join(home.Path, "tasks"), unix.W_OK)
		}
		if err != nil {
			why := "not enabled below " + domain.Path + " in cgroup v2"
			if domain.Path == "" {
				why = "no cgroup v2 containment"
			}
			p.Why[ctl] = fmt.Sprintf("%s; cgroup v1: %v", why, err)
			continue
		}
		p.V1[ctl] = home
	}
	return p
}

// Limits through cgroup v2: a cgroup's controllers are those its parent
// enables in cgroup.subtree_control, and a limit is a file of the cgroup
// (memory.max, cpu.max, pids.max).

// Controllers returns the controllers c may use (cgroup.controllers).
func (c Cgroup) Controllers() []string {
	b, err := os.ReadFile(filepath.Join(c.Path, "cgroup.controllers"))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// EnableControllers enables, of want, what it can for the cgroups below
// domain (its cgroup.subtree_control), first enabling it in domain's parent
// when the parent offers it but does not pass it on. A parent that holds
// processes and is not the root refuses (cgroup v2 keeps processes out of
// inner cgroups): then only what the parent already passes on is had. It
// returns what the cgroups below domain get.
func EnableControllers(domain Cgroup, want []string) []string {
	var got []string
	parent := Cgroup{Path: filepath.Dir(domain.Path)}
	for _, ctl := range want {
		if !slices.Contains(domain.Controllers(), ctl) && slices.Contains(parent.Controllers(), ctl) {
			writeFile(filepath.Join(parent.Path, "cgroup.subtree_control"), "+"+ctl)
		}
		if !slices.Contains(domain.Controllers(), ctl) {
			continue
		}
		if writeFile(filepath.Join(domain.Path, "cgroup.subtree_control"), "+"+ctl) == nil {
			got = append(got, ctl)
		}
	}
	return got
}

// SetLimits writes l's caps into c's files: memory.max (and memory.swap.max
// 0, so that the cap holds swap included), cpu.max, pids.max.
func (c Cgroup) SetLimits(l Limits) error {
	if l.MemoryMax > 0 {
		if err := writeFile(filepath.Join(c.Path, "memory.max"), strconv.FormatInt(l.MemoryMax, 10)); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(c.Path, "memory.swap.max")); err == nil {
			if err := writeFile(filepath.Join(c.Path, "memory.swap.max"), "0"); err != nil {
				return err
			}
		}
	}
	if l.CPUMax > 0 {
		q := fmt.Sprintf("%d %d", l.CPUQuota(), CPUPeriod)
		if err := writeFile(filepath.Join(c.Path, "cpu.max"), q); err != nil {
			return err
		}
	}
	if l.PidsMax > 0 {
		if err := writeFile(filepath.Join(c.Path, "pids.max"), strconv.Itoa(l.PidsMax)); err != nil {
			return err
		}
	}
	return nil
}

// OOMKills returns how many processes the OOM killer ended in c and below
// it (memory.events' oom_kill), 0 when c has no memory controller.
func (c Cgroup) OOMKills() int64 {
	b, err := os.ReadFile(filepath.Join(c.Path, "memory.events"))
	if err != nil {
		return 0
	}
	return fieldValue(b, "oom_kill")
}

// Limits through cgroup v1, where each controller has a hierarchy of its
// own (/sys/fs/cgroup/memory, …). A v1 cgroup holds threads: a thread
// written into its tasks file moves alone, and a process forked by that
// thread starts in it. So a process is placed in a v1 cgroup before its
// first instruction by moving the thread that forks it there for the
// fork, and back.

// V1Home finds the v1 hierarchy that carries controller ctl (in
// /proc/self/mountinfo) and this process's cgroup in it (in
// /proc/self/cgroup).
func V1Home(ctl string) (V1Group, error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return V1Group{}, fmt.Errorf("cgroup v1 %s: %w", ctl, err)
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return V1Group{}, fmt.Errorf("cgroup v1 %s: %w", ctl, err)
	}
	dir, rel, ok := v1Dir(mi, self, ctl)
	if !ok {
		return V1Group{}, fmt.Errorf("cgroup v1 %s: no hierarchy carries the controller", ctl)
	}
	return V1Group{Ctl: ctl, Path: dir, Rel: rel}, nil
}

// v1Dir returns the directory of this process's cgroup in the v1 hierarchy
// carrying ctl: the mount point of that hierarchy and the path below its
// root, and this process's cgroup as /proc/self/cgroup writes it.
func v1Dir(mountinfo, self []byte, ctl string) (dir, path string, ok bool) {
	found := false
	for line := range strings.SplitSeq(string(self), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && f[0] != "0" && slices.Contains(strings.Split(f[1], ","), ctl) {
			path, found = f[2], true
			break
		}
	}
	if !found {
		return "", "", false
	}
	for line := range strings.SplitSeq(string(mountinfo), "\n") {
		pre, post, cut := strings.Cut(line, " - ")
		if !cut {
			continue
		}
		fields, opts := strings.Fields(pre), strings.Fields(post)
		if len(fields) < 5 || len(opts) < 3 || opts[0] != "cgroup" || !slices.Contains(strings.Split(opts[2], ","), ctl) {
			continue
		}
		rel, in := strings.CutPrefix(path, strings.TrimSuffix(unescapeMount(fields[3]), "/"))
		if !in || rel != "" && rel[0] != '/' {
			continue // this process's cgroup is outside the mount
		}
		return filepath.Join(unescapeMount(fields[4]), rel), path, true
	}
	return "", "", false
}

// Sub creates the cgroup name below g; one that exists already is reused.
func (g V1Group) Sub(name string) (V1Group, error) {
	sub := V1Group{Ctl: g.Ctl, Path: filepath.Join(g.Path, name), Rel: filepath.Join(g.Rel, name)}
	if err := os.Mkdir(sub.Path, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return V1Group{}, fmt.Errorf("cgroup v1 %s: %w", g.Ctl, err)
	}
	return sub, nil
}

// SetLimits writes the caps of l that g's controller keeps, but the CPU
// cap when quota is false: memory.limit_in_bytes (and
// memory.memsw.limit_in_bytes, so that the cap holds swap included),
// pids.max, cpu.cfs_period_us and cpu.cfs_quota_us.
func (g V1Group) SetLimits(l Limits, quota bool) error {
	switch {
	case g.Ctl == CtlMemory && l.MemoryMax > 0:
		v := strconv.FormatInt(l.MemoryMax, 10)
		if err := g.write("memory.limit_in_bytes", v); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(g.Path, "memory.memsw.limit_in_bytes")); err == nil {
			return g.write("memory.memsw.limit_in_bytes", v)
		}
	case g.Ctl == CtlPids && l.PidsMax > 0:
		return g.write("pids.max", strconv.Itoa(l.PidsMax))
	case g.Ctl == CtlCPU && l.CPUMax > 0 && quota:
		if err := g.write("cpu.cfs_period_us", strconv.Itoa(CPUPeriod)); err != nil {
			return err
		}
		return g.write("cpu.cfs_quota_us", strconv.FormatInt(l.CPUQuota(), 10))
	}
	return nil
}

// SetPidsMax writes pids.max: n, or no cap for n <= 0.
func (g V1Group) SetPidsMax(n int) error {
	v := "max"
	if n > 0 {
		v = strconv.Itoa(n)
	}
	return g.write("pids.max", v)
}

// Enter moves the calling thread, alone, into g. The caller has locked its
// goroutine to the thread.
func (g V1Group) Enter() error { return g.write("tasks", "0") }

// OOMKills returns how many processes the OOM killer ended in g (the
// oom_kill line of memory.oom_control), 0 for a group of another
// controller.
func (g V1Group) OOMKills() int64 {
	if g.Ctl != CtlMemory {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(g.Path, "memory.oom_control"))
	if err != nil {
		return 0
	}
	return fieldValue(b, "oom_kill")
}

// Procs lists the processes in g.
func (g V1Group) Procs() []int {
	b, err := os.ReadFile(filepath.Join(g.Path, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Empty kills every process in g (each through a pidfd, once its
// /proc/PID/cgroup confirms it is still in g) until none is left, for at
// most timeout, and removes g.
func (g V1Group) Empty(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		procs := g.Procs()
		if len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup v1 %s: %s still has processes after %v", g.Ctl, g.Path, timeout)
		}
		for _, pid := range procs {
			killIfIn(pid, g.Ctl, g.Rel)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return g.remove()
}

// killIfIn SIGKILLs pid when its cgroup in the v1 hierarchy of ctl is rel:
// through a pidfd opened before the check, so a pid reused since the
// listing is never signalled.
func killIfIn(pid int, ctl, rel string) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && slices.Contains(strings.Split(f[1], ","), ctl) && f[2] == rel {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
			return
		}
	}
}

// remove removes g, which must hold no process; a group whose last
// process just died can stay busy for a moment: it retries on EBUSY for
// up to a second.
func (g V1Group) remove() error {
	var err error
	for range 100 {
		if err = unix.Rmdir(g.Path); err != unix.EBUSY {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil && err != unix.ENOENT {
		return fmt.Errorf("cgroup v1 %s: remove %s: %w", g.Ctl, g.Path, err)
	}
	return nil
}

func (g V1Group) write(file, v string) error {
	if err := writeFile(filepath.Join(g.Path, file), v); err != nil {
		return fmt.Errorf("cgroup v1 %s: %w", g.Ctl, err)
	}
	return nil
}

// writeFile writes v into the existing file path in one write.
func writeFile(path, v string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", v, path, err)
	}
	return nil
}

// fieldValue returns the number after "name " on a line of b, 0 if none.
func fieldValue(b []byte, name string) int64 {
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
