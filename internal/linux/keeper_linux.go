//go:build linux

package linux

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Keep is the body of a keeper: the process that ends a supervising
// process's workers when the supervisor can no longer do it. It holds the
// read end of a pipe (its standard input) whose write end only the
// supervisor holds; EOF means the supervisor is gone, however it ended
// (SIGKILL, the OOM killer, a crash, or a normal exit). It then kills the
// cgroup domain, every worker and every descendant of one, waits until it
// is empty and removes it, and returns.
//
// It makes itself hard to take down first: a session of its own (no
// terminal's signals), the usual termination signals ignored, the OOM
// killer told to spare it, and the lowest real-time priority where the
// process may, so that it acts at once on a saturated machine.
func Keep(domain string) {
	unix.Setsid()
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	os.WriteFile("/proc/self/oom_score_adj", []byte("-1000"), 0)
	runtime.LockOSThread()
	Raise(0)
	var buf [512]byte
	for {
		n, err := unix.Read(0, buf[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			break
		}
	}
	d := Cgroup{Path: domain}
	d.Kill()
	d.WaitEmpty(5 * time.Second)
	d.RemoveAll()
}
