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
// the system's C compiler (skipped without one) as the C SDK's header says,
// linked dynamically, and again linked statically (static/n; skipped
// where the C library has no static archive). The dynamic loader is a
// large share of a small worker's start: the static worker shows what a
// user who links so saves, and what is left for the supervisor.
//
//	go test -run '^$' -bench 'PoolC/10$' -benchtime 100x ./supervision/
//	go test -run '^$' -bench 'PoolC/200$' -benchtime 3x ./supervision/
//	go test -run '^$' -bench 'PoolC/static/200$' -benchtime 3x ./supervision/
//	go test -run '^$' -bench 'PoolC/1000$' -benchtime 3x -timeout 10m ./supervision/
//
// 200 shows a cost per worker as 1,000 does, at a fifth of the load.
func BenchmarkPoolC(b *testing.B) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		b.Skip("no C compiler (cc)")
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "beat.c")
	if err := os.WriteFile(src, []byte(beatC), 0o644); err != nil {
		b.Fatal(err)
	}
	build := func(bin string, flags ...string) ([]byte, error) {
		args := append([]string{"-std=c11", "-O2", "-Wall", "-Werror", "-pthread", "-I../sdk/c"}, flags...)
		return exec.Command(cc, append(args, "-o", bin, src, "../sdk/c/understudy.c")...).CombinedOutput()
	}
	bin, static := filepath.Join(dir, "beat"), filepath.Join(dir, "beat-static")
	if out, err := build(bin); err != nil {
		b.Fatalf("cc: %v\n%s", err, out)
	}
	staticOut, staticErr := build(static, "-static")
	sizes := []int{10, 200, 1000}
	for _, n := range sizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			benchPool(b, n, procbridge.Spec{Path: bin, SDK: true, Heartbeat: stormBeat, ReadyTimeout: time.Minute})
		})
	}
	b.Run("static", func(b *testing.B) {
		if staticErr != nil {
			b.Skipf("cc -static: %v\n%s", staticErr, staticOut)
		}
		for _, n := range sizes {
			b.Run(strconv.Itoa(n), func(b *testing.B) {
				benchPool(b, n, procbridge.Spec{Path: static, SDK: true, Heartbeat: stormBeat, ReadyTimeout: time.Minute})
			})
		}
	})
}
