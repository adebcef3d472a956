package testproc

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// WaitFile waits until the file at path exists and ok accepts its content,
// woken by inotify on its directory (a file created, written, moved in);
// it fails the test after Deadline.
func WaitFile(t testing.TB, path string, ok func(content string) bool) string {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_CREATE|unix.IN_MODIFY|unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE); err != nil {
		t.Fatalf("inotify on %s: %v", filepath.Dir(path), err)
	}
	end := time.Now().Add(Deadline)
	buf := make([]byte, 64<<10)
	last := "<none>"
	for {
		if data, err := os.ReadFile(path); err == nil {
			last = string(data)
			if ok(last) {
				return last
			}
		}
		left := time.Until(end)
		if left <= 0 {
			t.Fatalf("%s: not as wanted within %v; last read: %q", path, Deadline, last)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			t.Fatalf("poll: %v", err)
		}
		for {
			if _, err := unix.Read(fd, buf); err != nil {
				break
			}
		}
	}
}
