// Command goscenario is the Go SDK's scenario worker: it attaches with
// procbridge/worker and runs the scenario named by UNDERSTUDY_SCENARIO, as
// the scenario contract in sdk/scenario_test.go says.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/understudy/understudy/procbridge/worker"
)

func main() {
	w, err := worker.Attach()
	if err != nil {
		fmt.Fprintln(os.Stderr, "goscenario:", err)
		os.Exit(78)
	}
	switch sc := os.Getenv("UNDERSTUDY_SCENARIO"); sc {
	case "beat":
		w.Ready()
		for {
			w.Beat()
			time.Sleep(time.Millisecond)
		}
	case "hang":
		w.Ready()
		for range 10 {
			w.Beat()
			time.Sleep(time.Millisecond)
		}
		sleepForever()
	case "never-ready":
		sleepForever()
	case "counter":
		counter(w)
	case "echo":
		echo(w)
	case "child":
		child(w)
	case "give-up":
		giveUp(w)
	default:
		fmt.Fprintf(os.Stderr, "goscenario: UNDERSTUDY_SCENARIO = %q: not a scenario\n", sc)
		os.Exit(2)
	}
}

func sleepForever() {
	for {
		time.Sleep(time.Hour)
	}
}

func giveUp(w *worker.Worker) {
	w.Ready()
	if w.Active() {
		fmt.Println("active")
		sleepForever()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	err := w.WaitActive(ctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(os.Stderr, "goscenario: wait for 100 ms:", err)
		os.Exit(1)
	}
	fmt.Println("timeout")
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := w.WaitActive(ctx); !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "goscenario: cancelled wait:", err)
		os.Exit(1)
	}
	fmt.Println("cancelled")
	sleepForever()
}

func counter(w *worker.Worker) {
	w.Ready() // a spare is ready once parked
	if err := w.WaitActive(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "goscenario: wait active:", err)
		os.Exit(1)
	}
	state := make([]byte, 8)
	var n uint64
	if _, err := w.State(state); err == nil {
		n = binary.LittleEndian.Uint64(state)
	}
	fmt.Println("start", n)
	for {
		n++
		binary.LittleEndian.PutUint64(state, n)
		if err := w.Commit(state); errors.Is(err, worker.ErrFenced) {
			fmt.Println("fenced", n)
			os.Exit(3)
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "goscenario: commit:", err)
			os.Exit(1)
		}
		w.Beat()
		time.Sleep(time.Millisecond)
	}
}

func echo(w *worker.Worker) {
	w.Ready()
	ivl := w.HeartbeatInterval()
	if ivl <= 0 {
		ivl = 10 * time.Millisecond
	}
	buf := make([]byte, 1<<20)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), ivl)
		n, err := w.Recv(ctx, buf)
		cancel()
		w.Beat()
		if errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "goscenario: recv:", err)
			os.Exit(1)
		}
		reply := append([]byte("echo:"), buf[:n]...)
		if max := maxMessage(); len(reply) > max {
			reply = reply[:max]
		}
		if err := w.Reply(reply); err != nil {
			fmt.Fprintln(os.Stderr, "goscenario: reply:", err)
			os.Exit(1)
		}
	}
}

// maxMessage is the largest message the rings carry: the scenario's
// supervisor says the ring size in UNDERSTUDY_SCENARIO_RING (the Go SDK
// does not expose it).
func maxMessage() int {
	var size int
	if _, err := fmt.Sscan(os.Getenv("UNDERSTUDY_SCENARIO_RING"), &size); err != nil || size < 16 {
		return 1 << 20
	}
	return size - 8
}

func child(w *worker.Worker) {
	w.Ready()
	cmd := exec.Command("sleep", "600")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UNDERSTUDY_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "goscenario: sleep:", err)
		os.Exit(1)
	}
	fmt.Println("child", cmd.Process.Pid)
	for {
		w.Beat()
		time.Sleep(time.Millisecond)
	}
}
