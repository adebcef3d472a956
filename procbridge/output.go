package procbridge

import (
	"bufio"
	"errors"
	"os"
	"sync"
	"time"
)

// maxLine bounds one Line; a longer line is split.
const maxLine = 64 << 10

// outputs tracks the goroutines that drain a process's output pipes.
type outputs struct {
	files []*os.File // the parent's read ends
	wg    sync.WaitGroup
	lines sync.WaitGroup
}

// outputDrainBound is how long the bridge waits, after the process ended, for
// a grandchild that escaped the process group to close the output pipes.
const outputDrainBound = 500 * time.Millisecond

// startOutput drains r for one stream. The reader never waits for the
// consumer: chunks (ToWriter) or lines (Lines) that find the
// consumer's queue full are dropped and counted, so the worker never blocks
// on a full pipe.
func (p *Process) startOutput(r *os.File, o Output, isErr bool) {
	outs := &p.out
	outs.wg.Add(1)
	switch o.kind {
	case outputWriter:
		chunks := make(chan []byte, 64)
		outs.wg.Add(1)
		go func() {
			defer outs.wg.Done()
			for c := range chunks {
				o.w.Write(c)
			}
		}()
		go func() {
			defer outs.wg.Done()
			defer close(chunks)
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 {
					c := append([]byte(nil), buf[:n]...)
					select {
					case chunks <- c:
					default:
						p.dropped.Add(uint64(n))
					}
				}
				if err != nil {
					return
				}
			}
		}()
	case outputLines:
		outs.lines.Add(1)
		go func() {
			defer outs.wg.Done()
			defer outs.lines.Done()
			br := bufio.NewReaderSize(r, maxLine)
			for {
				b, err := br.ReadSlice('\n')
				if len(b) > 0 {
					text := string(trimNewline(b))
					select {
					case p.lines <- Line{Pid: p.pid, Stderr: isErr, Text: text}:
					default:
						p.dropped.Add(uint64(len(b)))
					}
				}
				if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
					return
				}
			}
		}()
	default:
		outs.wg.Done()
	}
}

func trimNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// closeOutputs closes the parent's read ends (on a failed spawn).
func (p *Process) closeOutputs() {
	for _, r := range p.out.files {
		r.Close()
	}
	p.drainOutputs()
}

// drainOutputs waits for the output goroutines: they end at EOF, once the
// worker and its process group are gone. A grandchild that left the group
// may hold a pipe open; after outputDrainBound the pipes are closed under it.
func (p *Process) drainOutputs() {
	outs := &p.out
	finished := make(chan struct{})
	go func() { outs.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(outputDrainBound):
		for _, r := range p.out.files {
			r.Close()
		}
		<-finished
	}
	for _, r := range p.out.files {
		r.Close()
	}
	outs.lines.Wait()
	close(p.lines)
}
