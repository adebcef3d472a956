//go:build linux

package supervision_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/understudy/understudy/procbridge"
)

// beatC is a worker in C on the C SDK: ready, then a beat per heartbeat
// interval. Its process costs a fraction of a Go worker's (no runtime, a
// few hundred KiB), so that a thousand of them measure the supervisor
// rather than the machine's room for Go processes.
const beatC = `#include <time.h>
#include "understudy.h"

int main(void) {
	us_worker *w;
	if (us_attach(&w) != 0)
		return 1;
	us_ready(w);
	int64_t ns = us_heartbeat_interval_ns(w);
	struct timespec ts = {ns / 1000000000, ns % 1000000000};
	for (;;) {
		us_beat(w);
		nanosleep(&ts, NULL);
	}
}
`

// BenchmarkPoolC: BenchmarkPool with the worker in C (beatC), built with
// the system's C compiler; skipped without one.
//
//	go test -run '^$' -bench 'PoolC/10$' -benchtime 100x ./supervision/
//	go test -run '^$' -bench 'PoolC/200$' -benchtime 3x ./supervision/
//	go test -run '^$' -bench 'PoolC/1000$' -benchtime 3x -timeout 10m ./supervision/
//
// 200 shows a cost per worker as 1,000 does, at a fifth of the load.
func BenchmarkPoolC(b *testing.B) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		b.Skip("no C compiler (cc)")
	}
	dir := b.TempDir()
	src, bin := filepath.Join(dir, "beat.c"), filepath.Join(dir, "beat")
	if err := os.WriteFile(src, []byte(beatC), 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command(cc, "-std=c11", "-O2", "-Wall", "-Werror", "-pthread", "-I../sdk/c",
		"-o", bin, src, "../sdk/c/understudy.c").CombinedOutput(); err != nil {
		b.Fatalf("cc: %v\n%s", err, out)
	}
	for _, n := range []int{10, 200, 1000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			benchPool(b, n, procbridge.Spec{Path: bin, SDK: true, Heartbeat: stormBeat, ReadyTimeout: time.Minute})
		})
	}
}
