//go:build linux

package linux

import (
	"bytes"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Keep is the body of a keeper: the process that ends a supervising
// process's workers when the supervisor can no longer do it. It holds the
// read end of a pipe (its standard input) whose write end only the
// supervisor holds; EOF means the supervisor is gone, however it ended
// (SIGKILL, the OOM killer, a crash, or a normal exit). how is KeeperEnv's
// value. For "cgroup:PATH" it then kills the cgroup, every worker and every
// descendant of one, waits until it is empty and removes it. For
// "pgroup:MARK" it reads lines "+PGID" and "-PGID" (a worker's process
// group, from its start until it was killed), and on EOF SIGKILLs the
// groups still named, then, three times over, every process whose
// environment holds MarkEnv=MARK.
//
// It makes itself hard to take down first: a session of its own (no
// terminal's signals), the usual termination signals ignored, the OOM
// killer told to spare it, and the lowest real-time priority where the
// process may, so that it acts at once on a saturated machine.
func Keep(how string) {
	unix.Setsid()
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	runtime.LockOSThread()
	Raise(0)
	groups := map[int]bool{}
	var buf [4096]byte
	var line []byte
	for {
		n, err := unix.Read(0, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break
		}
		line = append(line, buf[:n]...)
		for {
			i := bytes.IndexByte(line, '\n')
			if i < 0 {
				break
			}
			if g, err := strconv.Atoi(string(line[min(1, i):i])); err == nil && g > 1 {
				switch line[0] {
				case '+':
					groups[g] = true
				case '-':
					delete(groups, g)
				}
			}
			line = line[i+1:]
		}
	}
	switch mode, arg, _ := strings.Cut(how, ":"); mode {
	case "cgroup":
		d := Cgroup{Path: arg}
		d.Kill()
		d.WaitEmpty(5 * time.Second)
		d.RemoveAll()
	case "pgroup":
		for g := range groups {
			unix.Kill(-g, unix.SIGKILL)
		}
		for range 3 {
			if KillMarked(MarkEnv+"="+arg) == 0 {
				break
			}
		}
	}
}

// KillMarked SIGKILLs every process, other than this one, whose environment
// holds the variable mark ("NAME=VALUE"), and returns how many it found.
// Each is signalled through a pidfd opened before its environment is read,
// so a pid reused in between is not mistaken for it.
func KillMarked(mark string) int {
	want := append([]byte(mark), 0)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self, found := os.Getpid(), 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err == nil && (bytes.HasPrefix(env, want) || bytes.Contains(env, append([]byte{0}, want...))) {
			if unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0) == nil {
				found++
			}
		}
		unix.Close(fd)
	}
	return found
}
