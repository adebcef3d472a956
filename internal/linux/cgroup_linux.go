//go:build linux

package linux

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroup is a directory of the cgroup v2 hierarchy, by its path in the
// mounted filesystem.
type Cgroup struct{ Path string }

// CgroupHome finds the cgroup v2 filesystem (the first mount of type
// cgroup2 in /proc/self/mountinfo, which covers hybrid hosts that mount it
// beside the v1 controllers) and this process's cgroup in it (the "0::"
// line of /proc/self/cgroup). hybrid reports v1 controllers mounted too.
func CgroupHome() (own Cgroup, mount string, hybrid bool, err error) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return Cgroup{}, "", false, fmt.Errorf("cgroup2 mount: %w", err)
	}
	mount, hybrid = parseMountinfo(mi)
	if mount == "" {
		return Cgroup{}, "", hybrid, errors.New("cgroup2 mount: no cgroup2 filesystem is mounted")
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return Cgroup{}, mount, hybrid, fmt.Errorf("own cgroup: %w", err)
	}
	path, ok := parseOwnCgroup(self)
	if !ok {
		return Cgroup{}, mount, hybrid, errors.New("own cgroup: /proc/self/cgroup has no 0:: line")
	}
	return Cgroup{Path: filepath.Join(mount, path)}, mount, hybrid, nil
}

// parseMountinfo returns the mount point of the first cgroup2 filesystem,
// and whether a cgroup (v1) filesystem is mounted too.
func parseMountinfo(b []byte) (mount string, hybrid bool) {
	for line := range strings.SplitSeq(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		fields := strings.Fields(pre)
		switch fstype, _, _ := strings.Cut(post, " "); {
		case fstype == "cgroup2" && mount == "" && len(fields) > 4:
			mount = unescapeMount(fields[4])
		case fstype == "cgroup":
			hybrid = true
		}
	}
	return mount, hybrid
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + c - '0'
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseOwnCgroup returns the path of the "0::PATH" line.
func parseOwnCgroup(b []byte) (string, bool) {
	for line := range strings.SplitSeq(string(b), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			path, _, _ = strings.Cut(path, " (deleted)")
			return path, path != ""
		}
	}
	return "", false
}

// Sub creates the cgroup name below c.
func (c Cgroup) Sub(name string) (Cgroup, error) {
	sub := Cgroup{Path: filepath.Join(c.Path, name)}
	if err := os.Mkdir(sub.Path, 0o755); err != nil {
		return Cgroup{}, fmt.Errorf("cgroup: %w", err)
	}
	return sub, nil
}

// Open opens the cgroup's directory, close-on-exec, for clone3's
// CLONE_INTO_CGROUP (syscall.SysProcAttr.CgroupFD).
func (c Cgroup) Open() (int, error) {
	fd, err := unix.Open(c.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("cgroup: open %s: %w", c.Path, err)
	}
	return fd, nil
}

// CanKill reports whether the kernel has cgroup.kill (Linux 5.14+).
func (c Cgroup) CanKill() bool {
	_, err := os.Stat(filepath.Join(c.Path, "cgroup.kill"))
	return err == nil
}

// Kill SIGKILLs every process in the cgroup and below it, at once: those
// that left their process group or session too.
func (c Cgroup) Kill() error {
	f, err := os.OpenFile(filepath.Join(c.Path, "cgroup.kill"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cgroup: kill: %w", err)
	}
	_, err = f.Write([]byte("1"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cgroup: kill %s: %w", c.Path, err)
	}
	return nil
}

// Populated reports whether a live process is in the cgroup or below it
// (zombies are not).
func (c Cgroup) Populated() (bool, error) {
	b, err := os.ReadFile(filepath.Join(c.Path, "cgroup.events"))
	if err != nil {
		return false, fmt.Errorf("cgroup: %w", err)
	}
	return populated(b), nil
}

func populated(events []byte) bool {
	return !bytes.Contains(events, []byte("populated 0"))
}

// WaitEmpty waits until no live process is in the cgroup or below it, at
// most timeout. It sleeps in poll(2) on cgroup.events, which the kernel
// wakes (POLLPRI) when the file changes, so it blocks its thread.
func (c Cgroup) WaitEmpty(timeout time.Duration) error {
	fd, err := unix.Open(filepath.Join(c.Path, "cgroup.events"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	var buf [256]byte
	for {
		n, err := unix.Pread(fd, buf[:], 0)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("cgroup: read %s/cgroup.events: %w", c.Path, err)
		}
		if err == nil && !populated(buf[:n]) {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("cgroup: %s still populated after %v", c.Path, timeout)
		}
		// Bounded waits: a change between the read and the poll is
		// seen at the next round at the latest.
		ms := int(min(left, 50*time.Millisecond)/time.Millisecond) + 1
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
		if _, err := unix.Poll(fds, ms); err != nil && err != unix.EINTR {
			return fmt.Errorf("cgroup: poll %s/cgroup.events: %w", c.Path, err)
		}
	}
}

// Remove removes the cgroup, which must be empty and have no cgroups below
// it. A cgroup whose last process was just killed can stay busy for a
// moment: it retries on EBUSY for up to a second.
func (c Cgroup) Remove() error {
	var err error
	for range 100 {
		if err = unix.Rmdir(c.Path); err != unix.EBUSY {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil && err != unix.ENOENT {
		return fmt.Errorf("cgroup: remove %s: %w", c.Path, err)
	}
	return nil
}

// RemoveAll removes the cgroup and every cgroup below it, deepest first.
func (c Cgroup) RemoveAll() error {
	ents, _ := os.ReadDir(c.Path)
	for _, e := range ents {
		if e.IsDir() {
			Cgroup{Path: filepath.Join(c.Path, e.Name())}.RemoveAll()
		}
	}
	return c.Remove()
}

// MakeDomain creates the cgroup name below this process's own and checks
// that what containing processes in cgroups needs works there: the
// kernel's cgroup.kill (Linux 5.14+), and forking a process straight into
// a cgroup (clone3's CLONE_INTO_CGROUP). A cgroup of that name left by an
// earlier process (of the same pid) is killed and removed first: what is
// in it outlived that process. The error says what is missing.
func MakeDomain(name string) (Cgroup, error) {
	own, _, _, err := CgroupHome()
	if err != nil {
		return Cgroup{}, err
	}
	d, err := own.Sub(name)
	if errors.Is(err, fs.ErrExist) {
		stale := Cgroup{Path: filepath.Join(own.Path, name)}
		stale.Kill()
		stale.WaitEmpty(time.Second)
		stale.RemoveAll()
		d, err = own.Sub(name)
	}
	if err != nil {
		return Cgroup{}, fmt.Errorf("no cgroup may be made in %s: %w", own.Path, errors.Unwrap(err))
	}
	if !d.CanKill() {
		d.Remove()
		return Cgroup{}, errors.New("the kernel has no cgroup.kill (Linux 5.14+)")
	}
	if err := probeClone(d); err != nil {
		d.RemoveAll()
		return Cgroup{}, err
	}
	return d, nil
}

// probeClone checks that a process can be forked into a cgroup below d: an
// exec of a path that does not exist fails with ENOENT only once the clone
// into the cgroup has worked.
func probeClone(d Cgroup) error {
	probe, err := d.Sub("probe")
	if err != nil {
		return err
	}
	defer probe.Remove()
	fd, err := probe.Open()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = syscall.ForkExec("/nonexistent/understudy-clone-probe", []string{"probe"},
		&syscall.ProcAttr{Sys: &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}})
	if !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("forking into a cgroup (clone3 CLONE_INTO_CGROUP) fails: %v", err)
	}
	return nil
}
