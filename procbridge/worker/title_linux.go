//go:build linux

package worker

import (
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/understudy/understudy/procbridge/internal/shm"
)

// The title procbridge gives a re-executed worker in argv[0] (see
// procbridge's workerTitle): "understudy: NAME", and " (spare)" after it
// for a spare.
const (
	titlePrefix = "understudy: "
	titleSpare  = " (spare)"
)

// nameThread names the process after its child in /proc/PID/comm, what
// ps and top show by default: the child's name for the primary, with a
// "~" before it for a spare (the kernel keeps 15 bytes).
func nameThread() {
	t := os.Args[0]
	if os.Getenv(shm.EnvWorker) == "" || !strings.HasPrefix(t, titlePrefix) {
		return
	}
	name := strings.TrimRight(strings.TrimPrefix(t, titlePrefix), "\x00")
	if n, ok := strings.CutSuffix(name, titleSpare); ok {
		name = "~" + n
	}
	if len(name) > 15 {
		name = name[:15]
	}
	// /proc/self/comm is the main thread's: the process's name in ps.
	_ = os.WriteFile("/proc/self/comm", []byte(name), 0)
}

// spareTitled reports whether the title says this process is a spare.
func spareTitled() bool {
	return strings.HasPrefix(os.Args[0], titlePrefix) && strings.HasSuffix(os.Args[0], titleSpare)
}

// retitle, once a spare is the primary, takes " (spare)" out of its
// title: it overwrites the end of argv[0] with NULs where the kernel keeps
// it (the runtime's os.Args[0] points there; it checks that it does), so
// that /proc/PID/cmdline and ps say it is the primary; and names the
// process after its child. It runs after the takeover, off its path, on a
// goroutine of its own: os.Args[0] keeps its length, NULs at its end.
func retitle() {
	t := os.Args[0]
	if os.Getenv(shm.EnvWorker) == "" || !spareTitled() {
		return
	}
	start, end, ok := argArea()
	p := uintptr(unsafe.Pointer(unsafe.StringData(t)))
	if !ok || p < start || p+uintptr(len(t)) > end {
		return // os.Args[0] is not the kernel's copy: leave it
	}
	b := unsafe.Slice(unsafe.StringData(t), len(t))
	clear(b[len(t)-len(titleSpare):])
	nameThread()
}

// argArea is where the kernel keeps this process's arguments: arg_start
// and arg_end, fields 48 and 49 of /proc/self/stat.
func argArea() (start, end uintptr, ok bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the name may hold spaces
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(s[i+1:]) // from field 3 on
	if len(f) < 49-2 {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(f[48-3], 10, 64)
	z, err2 := strconv.ParseUint(f[49-3], 10, 64)
	if err1 != nil || err2 != nil || a == 0 || z <= a {
		return 0, 0, false
	}
	return uintptr(a), uintptr(z), true
}
