//go:build linux

package linux

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestParseMountinfo: the cgroup2 mount is found on unified and hybrid
// hosts, escapes undone.
func TestParseMountinfo(t *testing.T) {
	for _, tt := range []struct {
		name, in, mount string
		hybrid          bool
	}{
		{"unified", "30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n", "/sys/fs/cgroup", false},
		{"hybrid", "25 24 0:22 / /sys/fs/cgroup ro shared:9 - tmpfs tmpfs ro\n" +
			"26 25 0:23 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n" +
			"27 25 0:24 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n", "/sys/fs/cgroup/unified", true},
		{"v1 only", "27 25 0:24 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n", "", true},
		{"escaped", `26 25 0:23 / /mnt/my\040cgroups rw - cgroup2 cgroup2 rw` + "\n", "/mnt/my cgroups", false},
		{"none", "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mount, hybrid := parseMountinfo([]byte(tt.in))
			if mount != tt.mount || hybrid != tt.hybrid {
				t.Errorf("got %q, %v; want %q, %v", mount, hybrid, tt.mount, tt.hybrid)
			}
		})
	}
}

// TestParseOwnCgroup: the 0:: line, among v1 lines.
func TestParseOwnCgroup(t *testing.T) {
	for in, want := range map[string]string{
		"0::/user.slice/session-3.scope\n":                   "/user.slice/session-3.scope",
		"12:memory:/process_api/7\n1:name=systemd:/\n0::/\n": "/",
		"12:memory:/a\n": "",
	} {
		got, ok := parseOwnCgroup([]byte(in))
		if got != want || ok != (want != "") {
			t.Errorf("%q: got %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestCgroupKill: where this process may make cgroups, a domain is made,
// a process forked into a cgroup of it is killed with the cgroup, and the
// domain is removed.
func TestCgroupKill(t *testing.T) {
	d, err := MakeDomain("understudy.test." + itoa(os.Getpid()))
	if err != nil {
		t.Skipf("no cgroup containment here: %v", err)
	}
	defer d.RemoveAll()
	leaf, err := d.Sub("leaf")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := leaf.Open()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := forkSleep(fd)
	if err != nil {
		t.Fatal(err)
	}
	if on, err := d.Populated(); err != nil || !on {
		t.Fatalf("populated %v, %v; want true", on, err)
	}
	if err := d.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitEmpty(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	reap(pid)
	if err := d.RemoveAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.Path); !os.IsNotExist(err) {
		t.Errorf("the domain is still there: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// forkSleep forks sleep into the cgroup fd, closing fd.
func forkSleep(fd int) (int, error) {
	defer unix.Close(fd)
	path, err := exec.LookPath("sleep")
	if err != nil {
		return 0, err
	}
	return syscall.ForkExec(path, []string{"sleep", "600"}, &syscall.ProcAttr{Sys: &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}})
}

func reap(pid int) {
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
}
