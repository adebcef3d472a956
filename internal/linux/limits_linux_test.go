//go:build linux

package linux

import "testing"

// TestV1Dir: a controller's v1 directory is its hierarchy's mount point
// and this process's path below the mount's root, for a controller
// mounted alone or beside another, and at a root that is not "/".
func TestV1Dir(t *testing.T) {
	mi := "27 25 0:24 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n" +
		"28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw shared:12 - cgroup cgroup rw,cpu,cpuacct\n" +
		"29 25 0:26 /box /sys/fs/cgroup/pids rw shared:13 - cgroup cgroup rw,pids\n" +
		"26 25 0:23 / /sys/fs/cgroup/unified rw shared:10 - cgroup2 cgroup2 rw\n"
	self := "4:memory:/a/b\n3:cpu,cpuacct:/\n2:pids:/box/c\n0::/\n"
	for _, tt := range []struct{ ctl, dir, rel string }{
		{"memory", "/sys/fs/cgroup/memory/a/b", "/a/b"},
		{"cpu", "/sys/fs/cgroup/cpu,cpuacct", "/"},
		{"pids", "/sys/fs/cgroup/pids/c", "/box/c"},
	} {
		dir, rel, ok := v1Dir([]byte(mi), []byte(self), tt.ctl)
		if !ok || dir != tt.dir || rel != tt.rel {
			t.Errorf("%s: got %q, %q, %v; want %q, %q", tt.ctl, dir, rel, ok, tt.dir, tt.rel)
		}
	}
	if _, _, ok := v1Dir([]byte(mi), []byte(self), "freezer"); ok {
		t.Error("freezer: found, but no hierarchy carries it")
	}
	if _, _, ok := v1Dir([]byte(mi), []byte("2:pids:/elsewhere\n"), "pids"); ok {
		t.Error("pids: found, but this process's cgroup is outside the mount's root")
	}
}
