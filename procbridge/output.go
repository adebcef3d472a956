package procbridge

import (
	"bufio"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// maxLine bounds one Line; a longer line is split.
const maxLine = 64 << 10

// lineQueue is how many Lines wait for their reader at most.
const lineQueue = 1024

// outputBudget bounds the bytes of a process's output, both streams
// together, that wait for their reader (Lines) or writer (ToWriter): a
// worker that floods its output, in lines or in one line without end,
// cannot grow its supervisor's memory past it. What would go over is
// dropped and counted (Exited.Dropped).
const outputBudget = 1 << 20

// outputs tracks the goroutines that drain a process's output pipes.
type outputs struct {
	files []*os.File // the parent's read ends
	wg    sync.WaitGroup
	lines sync.WaitGroup
	queue outputQueue
}

// outputQueue counts the bytes of output queued for a process's reader.
// Lines are counted out when their reader has taken them: the channel is
// first in, first out, so the lines taken since the last look are the
// oldest sent, and their sizes are in a ring as long as the channel.
type outputQueue struct {
	mu      sync.Mutex // taken by the stream readers only
	sizes   [lineQueue]int
	sent    uint64 // lines sent
	counted uint64 // lines sent and counted out as taken
	queued  int    // bytes of the lines sent and not taken

	chunks atomic.Int64 // bytes of ToWriter chunks not written yet
}

// sendLine queues the line b (its newline still on) for the reader, or
// reports that it does not fit: the channel is full, or its bytes would
// take the queue over outputBudget.
func (q *outputQueue) sendLine(ch chan Line, b []byte, pid int, isErr bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for taken := q.sent - uint64(len(ch)); q.counted < taken; q.counted++ {
		q.queued -= q.sizes[q.counted%lineQueue]
	}
	if q.queued+len(b) > outputBudget || len(ch) == cap(ch) {
		return false
	}
	select {
	case ch <- Line{Pid: pid, Stderr: isErr, Text: string(trimNewline(b))}:
	default:
		return false
	}
	q.sizes[q.sent%lineQueue] = len(b)
	q.sent++
	q.queued += len(b)
	return true
}

// outputDrainBound is how long the bridge waits, after the process ended, for
// a grandchild that escaped the process group to close the output pipes.
const outputDrainBound = 500 * time.Millisecond

// startOutput drains r for one stream. The reader never waits for the
// consumer: chunks (ToWriter) or lines (Lines) that find the consumer's
// queue full, or would take it over outputBudget bytes, are dropped and
// counted, so the worker never blocks on a full pipe and never grows its
// supervisor's memory.
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
				outs.queue.chunks.Add(-int64(len(c)))
			}
		}()
		go func() {
			defer outs.wg.Done()
			defer close(chunks)
			buf := make([]byte, 32<<10)
			for {
				n, err := r.Read(buf)
				if n > 0 {
					if outs.queue.chunks.Add(int64(n)) > outputBudget {
						outs.queue.chunks.Add(-int64(n))
						p.dropped.Add(uint64(n))
					} else {
						select {
						case chunks <- append([]byte(nil), buf[:n]...):
						default:
							outs.queue.chunks.Add(-int64(n))
							p.dropped.Add(uint64(n))
						}
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
				if len(b) > 0 && !outs.queue.sendLine(p.lines, b, p.pid, isErr) {
					p.dropped.Add(uint64(len(b)))
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
