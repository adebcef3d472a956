//go:build jack

package jack

/*
#include <stdlib.h>
#include "client.h"
*/
import "C"

import (
	"fmt"
	"slices"
	"sync/atomic"
	"unsafe"
)

// A capture is a second JACK client that records ports, for tests: the
// test's ears.
type capture struct {
	c *C.us_capture
	n int
}

// openCapture opens a client named name with n input ports (in_0, ...)
// that records up to frames frames once armed.
func openCapture(name, server string, n, frames int) (*capture, error) {
	p, err := openClient(name, server, func(name, server *C.char, st *C.int) unsafe.Pointer {
		return unsafe.Pointer(C.us_capture_open(name, server, C.int(n), C.uint64_t(frames), st))
	})
	if err != nil {
		return nil, err
	}
	return &capture{c: (*C.us_capture)(p), n: n}, nil
}

// connect wires port from (a full name) to the capture's input i.
func (c *capture) connect(from string, i int) error {
	cfrom := C.CString(from)
	defer C.free(unsafe.Pointer(cfrom))
	to := C.CString(fmt.Sprintf("%s:in_%d", C.GoString(C.jack_get_client_name(c.c.client)), i))
	defer C.free(unsafe.Pointer(to))
	if rc := C.jack_connect(c.c.client, cfrom, to); rc != 0 {
		return fmt.Errorf("jack: connecting %s to the capture: error %d", from, int(rc))
	}
	return nil
}

// watch makes the capture record only the periods whose block p wrote
// (see process_capture); set it before arm.
func (c *capture) watch(p *client) { c.c.player = p.c }

// stale counts the periods the capture recorded as silence because the
// watched player's ports did not hold that period's block.
func (c *capture) stale() uint64 { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.c.stale))) }

func (c *capture) arm()        { atomic.StoreUint32((*uint32)(unsafe.Pointer(&c.c.armed)), 1) }
func (c *capture) disarm()     { atomic.StoreUint32((*uint32)(unsafe.Pointer(&c.c.armed)), 0) }
func (c *capture) frames() int { return int(atomic.LoadUint64((*uint64)(unsafe.Pointer(&c.c.frames)))) }

// samples returns a copy of what was recorded, interleaved.
func (c *capture) samples() []float32 {
	return slices.Clone(unsafe.Slice((*float32)(unsafe.Pointer(c.c.buf)), c.frames()*c.n))
}

func (c *capture) close() { C.us_capture_close(c.c) }

// openSource opens a client with one output port, out, that plays the
// server's frame clock (mod 2^24) as samples: a signal whose every sample
// says when it was played.
func openSource(name, server string) (*capture, error) {
	p, err := openClient(name, server, func(name, server *C.char, st *C.int) unsafe.Pointer {
		return unsafe.Pointer(C.us_source_open(name, server, st))
	})
	if err != nil {
		return nil, err
	}
	return &capture{c: (*C.us_capture)(p), n: 1}, nil
}

// An empty client does nothing in its process callback but time itself:
// the floor the engine's callback is measured against.
type emptyClient struct{ c *C.us_client }

func openEmpty(name, server string) (*emptyClient, error) {
	p, err := openClient(name, server, func(name, server *C.char, st *C.int) unsafe.Pointer {
		return unsafe.Pointer(C.us_open_empty(name, server, st))
	})
	if err != nil {
		return nil, err
	}
	return &emptyClient{c: (*C.us_client)(p)}, nil
}

func (e *emptyClient) costs() []int64 { return callbackCosts(e.c) }
func (e *emptyClient) close()         { C.us_close(e.c) }
func (e *emptyClient) xruns() uint64  { return atomic.LoadUint64((*uint64)(unsafe.Pointer(&e.c.xruns))) }

// callbackCosts returns the durations of the last process callbacks (up
// to 4096), in nanoseconds, and forgets them.
func callbackCosts(c *C.us_client) []int64 {
	n := atomic.SwapUint64((*uint64)(unsafe.Pointer(&c.costs)), 0)
	return slices.Clone(unsafe.Slice((*int64)(unsafe.Pointer(&c.cost[0])), min(n, 4096)))
}

// costs returns the engine client's callback durations, as callbackCosts.
func (c *client) costs() []int64 { return callbackCosts(c.c) }

// silent counts the blocks the callback played as silence while a Run
// was on: due, and not there by the end of its period.
func (c *client) silent() uint64 { return atomic.LoadUint64(c.word64(&c.c.silent)) }

// skipped counts the periods the server ran without this client.
func (c *client) skipped() uint64 { return atomic.LoadUint64(c.word64(&c.c.skipped)) }

// repeats counts the callbacks the server ran a second time in one period.
func (c *client) repeats() uint64 { return atomic.LoadUint64(c.word64(&c.c.repeats)) }

// overruns counts the callbacks that waited for a block and returned
// after the server's next period began: the xruns the client may have
// caused.
func (c *client) overruns() uint64 { return atomic.LoadUint64(c.word64(&c.c.overruns)) }

// dropped counts the periods whose inputs the callback did not take.
func (c *client) dropped() uint64 { return atomic.LoadUint64(c.word64(&c.c.dropped)) }

// name is the client's name on the server.
func (c *client) name() string { return C.GoString(C.us_name(c.c)) }

// traceLen is how many blocks a trace holds.
const traceLen = C.US_TRACE

// A runTrace is what a traced client recorded of a run (us_trace), in
// CLOCK_MONOTONIC ns, by block: when the callback that started its cycle
// began (tick), when the server's period began by its own clock
// (nominal), when the driver put the block (put), and when the callback
// played it (played; negative: it played silence then). Xruns are the
// server's, with the cycle of the period last seen before each.
type runTrace struct {
	tick, nominal, put, played, ended []int64
	xrunCycle                         []int64
	xrunAt                            []int64
}

// trace makes the client record a trace; call it before the engine
// starts. The client's close frees it.
func (c *client) trace() {
	c.c.trace = (*C.us_trace)(C.calloc(1, C.sizeof_us_trace))
}

// traced returns a copy of the trace, or nil when none was asked for.
func (c *client) traced() *runTrace {
	t := c.c.trace
	if t == nil {
		return nil
	}
	i64 := func(p *C.int64_t, n int) []int64 {
		return slices.Clone(unsafe.Slice((*int64)(unsafe.Pointer(p)), n))
	}
	n := int(min(atomic.LoadUint64((*uint64)(unsafe.Pointer(&t.xruns))), 1024))
	r := &runTrace{
		tick: i64(&t.tick[0], traceLen), nominal: i64(&t.nominal[0], traceLen),
		put: i64(&t.put[0], traceLen), played: i64(&t.played[0], traceLen), ended: i64(&t.ended[0], traceLen),
		xrunAt: i64(&t.xrun_at[0], n),
	}
	base := int64(c.c.base)
	for _, p := range unsafe.Slice((*uint64)(unsafe.Pointer(&t.xrun_period[0])), n) {
		r.xrunCycle = append(r.xrunCycle, int64(p)-base)
	}
	return r
}
