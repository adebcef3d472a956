//go:build linux

package worker

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
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

var (
	// titleArea is the kernel's copy of this spare's arguments, what
	// /proc/PID/cmdline and ps show, which retitle rewrites once; os.Args
	// no longer points into it (initTitle).
	titleArea []byte
	// spareTitle is set while the title says the process is a spare.
	spareTitle atomic.Bool
)

// initTitle names the process after its child (nameThread) and, for a
// spare, makes retitle possible: os.Args gets copies of the arguments, so
// that the program's strings do not change when retitle rewrites the
// kernel's. It runs in attach, before the worker's function.
func initTitle() {
	if os.Getenv(shm.EnvWorker) == "" || !strings.HasPrefix(os.Args[0], titlePrefix) {
		return
	}
	nameThread(os.Args[0])
	if !strings.HasSuffix(os.Args[0], titleSpare) {
		return
	}
	start, end, ok := argArea()
	p := unsafe.StringData(os.Args[0])
	if !ok || uintptr(unsafe.Pointer(p)) != start {
		return // os.Args[0] is not the kernel's copy: leave it
	}
	args := make([]string, len(os.Args))
	for i, a := range os.Args {
		args[i] = strings.Clone(a)
	}
	os.Args = args
	titleArea = unsafe.Slice(p, end-start)
	spareTitle.Store(true)
}

// nameThread names the process after its child in /proc/PID/comm, what
// ps and top show by default: the child's name for the primary, with a
// "~" before it for a spare (the kernel keeps 15 bytes).
func nameThread(title string) {
	name := strings.TrimPrefix(title, titlePrefix)
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
func spareTitled() bool { return spareTitle.Load() }

// retitle, once a spare is the primary, takes " (spare)" out of its
// title where the kernel keeps it, so that /proc/PID/cmdline and ps say
// it is the primary, and renames the process. It runs after the takeover,
// off its path, once.
func retitle() {
	if !spareTitle.CompareAndSwap(true, false) {
		return
	}
	title := strings.TrimSuffix(os.Args[0], titleSpare)
	args := append([]string{title}, os.Args[1:]...)
	s := strings.Join(args, "\x00") + "\x00"
	if len(s) > len(titleArea) {
		return
	}
	copy(titleArea, s)
	clear(titleArea[len(s):])
	nameThread(title)
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
