//go:build jack

package jack

/*
#cgo pkg-config: jack
#include <errno.h>
#include <stdlib.h>
#include "client.h"
#include <jack/thread.h>
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/understudy/understudy/audio"
	"github.com/understudy/understudy/audio/internal/clock"
	"github.com/understudy/understudy/internal/linux"
	"github.com/understudy/understudy/internal/mono"
	"github.com/understudy/understudy/procbridge"
)

// client is the engine's JACK client: a clock.Clock over the C side in
// client.c, whose words it reads and writes with atomics.
type client struct {
	c       *C.us_client
	cfg     Config
	frames  int
	chans   int
	period  int64
	ring    []float32 // the C side's ring of blocks
	closeMu sync.Once
}

// open opens the client; Attach, called by the engine's Start, registers
// its ports and activates it.
func open(cfg Config) (clock.Clock, error) {
	c, err := openClient(cfg.Name, cfg.Server, func(name, server *C.char, st *C.int) unsafe.Pointer {
		return unsafe.Pointer(C.us_open(name, server, st))
	})
	if err != nil {
		return nil, err
	}
	return &client{c: (*C.us_client)(c), cfg: cfg}, nil
}

// openClient opens a client with opener and explains a failure by the
// JACK status.
func openClient(name, server string, opener func(name, server *C.char, st *C.int) unsafe.Pointer) (unsafe.Pointer, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var cserver *C.char
	if server != "" {
		cserver = C.CString(server)
		defer C.free(unsafe.Pointer(cserver))
	}
	var st C.int
	p := opener(cname, cserver, &st)
	if p != nil {
		return p, nil
	}
	switch {
	case st&C.JackNameNotUnique != 0 || st&C.JackServerError != 0 && C.us_server_up(cserver) != 0:
		// JACK2 says "server error" for a name taken exactly: a server
		// that takes another client says which it was.
		return nil, fieldErr("Name", name, "a client of that name is already on the server: choose another")
	case st&(C.JackServerFailed|C.JackServerError) != 0:
		which := "the default server"
		if server != "" {
			which = fmt.Sprintf("a server named %q", server)
		}
		return nil, fieldErr("Server", server, "cannot connect to %s: is jackd (or PipeWire's JACK) running? (JACK status %#x)", which, int(st))
	case st&C.JackInvalidOption != 0:
		return nil, fieldErr("Name", name, "the server refused the name (JACK status %#x)", int(st))
	}
	return nil, fmt.Errorf("jack: opening client %q: JACK status %#x", name, int(st))
}

func (c *client) Attach(s clock.Shape) error {
	if r := int(C.us_server_rate(c.c)); r != s.Rate {
		return fieldErr("Engine.Graph.Rate", s.Rate, "the JACK server runs at %d Hz: the graph's rate must be the server's", r)
	}
	if f := int(C.us_server_frames(c.c)); f != s.Frames {
		return fieldErr("Engine.Graph.BlockSize", s.Frames,
			"the JACK server's period is %d frames: the graph's block size must be the server's (or start the server with -p %d)", f, s.Frames)
	}
	c.frames, c.chans = s.Frames, len(s.Ports)
	c.period = int64(s.Frames) * int64(time.Second) / int64(s.Rate)
	names := make([]*C.char, len(s.Ports))
	for i, p := range s.Ports {
		names[i] = C.CString(strings.ReplaceAll(p, ":", "_"))
	}
	defer func() {
		for _, n := range names {
			C.free(unsafe.Pointer(n))
		}
	}()
	cnames := (**C.char)(C.malloc(C.size_t(len(names)) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	defer C.free(unsafe.Pointer(cnames))
	copy(unsafe.Slice(cnames, len(names)), names)
	var errbuf [256]C.char
	if C.us_attach(c.c, C.int(s.Frames), C.int(s.Slack), C.int(s.Rate), C.int64_t(c.Margin()),
		cnames, C.int(len(names)), &errbuf[0], C.int(len(errbuf))) != 0 {
		return fmt.Errorf("jack: %s", C.GoString(&errbuf[0]))
	}
	c.ring = unsafe.Slice((*float32)(unsafe.Pointer(c.c.ring)), slots*c.chans*c.frames)
	return c.connect(s.Ports)
}

// connect wires the sink's ports as Config says.
func (c *client) connect(ports []string) error {
	if c.cfg.NoConnect {
		return nil
	}
	targets := c.cfg.Connect
	if len(targets) == 0 {
		targets = physicalPlayback(c.c.client)
	}
	self := C.GoString(C.us_name(c.c))
	for i := range min(len(ports), len(targets)) {
		from := C.CString(self + ":" + strings.ReplaceAll(ports[i], ":", "_"))
		to := C.CString(targets[i])
		rc := C.us_connect(c.c, from, to)
		C.free(unsafe.Pointer(from))
		C.free(unsafe.Pointer(to))
		if rc != 0 && rc != C.EEXIST {
			if len(c.cfg.Connect) == 0 {
				continue // the default: best effort
			}
			return fieldErr(fmt.Sprintf("Connect[%d]", i), targets[i], "cannot connect %s to it: no such input port on the server?", ports[i])
		}
	}
	return nil
}

// physicalPlayback lists the server's physical playback ports.
func physicalPlayback(j *C.jack_client_t) []string {
	typ := C.CString(C.JACK_DEFAULT_AUDIO_TYPE)
	defer C.free(unsafe.Pointer(typ))
	list := C.jack_get_ports(j, nil, typ, C.JackPortIsPhysical|C.JackPortIsInput)
	if list == nil {
		return nil
	}
	defer C.jack_free(unsafe.Pointer(list))
	var out []string
	for _, p := range unsafe.Slice(list, 1<<16) {
		if p == nil {
			break
		}
		out = append(out, C.GoString(p))
	}
	return out
}

// The words of the C side, as Go atomics see them.
func (c *client) word32(p *C.uint32_t) *uint32 { return (*uint32)(unsafe.Pointer(p)) }
func (c *client) word64(p *C.uint64_t) *uint64 { return (*uint64)(unsafe.Pointer(p)) }

func (c *client) Begin(first uint64) {
	atomic.StoreUint64(c.word64(&c.c.last), 0)
	atomic.StoreUint64(c.word64(&c.c.begin), first)
}

func (c *client) Wait(cycle uint64, until int64) (int64, bool, bool, error) {
	tick := c.word32(&c.c.tick)
	waited := false
	for {
		seen := atomic.LoadUint32(tick)
		if err := c.err(); err != nil {
			return 0, false, false, err
		}
		if t := atomic.LoadUint64(c.word64(&c.c.ticked)); t >= cycle {
			start := atomic.LoadInt64((*int64)(unsafe.Pointer(&c.c.tick_at[cycle%slots])))
			if t-cycle >= slots/2 {
				start = mono.Now() // long gone: its stamp is another cycle's
			}
			return start, true, waited, nil
		}
		if mono.Now() >= until {
			return 0, false, waited, nil
		}
		waited = true
		linux.FutexWaitUntil(tick, seen, until)
	}
}

// slots is the ring's size, as client.h has it.
const slots = C.US_SLOTS

// err says why the client cannot go on, or nil.
func (c *client) err() error {
	if atomic.LoadUint32(c.word32(&c.c.gone)) != 0 {
		return errServerGone
	}
	if f := atomic.LoadUint32(c.word32(&c.c.new_frames)); f != 0 {
		return fmt.Errorf("jack: the server's period changed from %d to %d frames: the graph's block size is fixed; restart with a graph of %d frames", c.frames, f, f)
	}
	if r := atomic.LoadUint32(c.word32(&c.c.new_rate)); r != 0 {
		return fmt.Errorf("jack: the server's rate changed to %d Hz: the engine does not resample; restart with a graph at %d Hz", r, r)
	}
	return nil
}

var errServerGone = errors.New("jack: the server shut the client down (it stopped, or dropped the client)")

func (c *client) Margin() int64 { return c.period / 10 }

func (c *client) Put(cycle uint64, ports [][]float32) {
	n := c.chans * c.frames
	slot := c.ring[int(cycle%slots)*n : int(cycle%slots+1)*n]
	for i, p := range ports {
		copy(slot[i*c.frames:(i+1)*c.frames], p)
	}
	atomic.StoreUint64(c.word64(&c.c.done[cycle%slots]), cycle)
	pub := c.word32(&c.c.pub)
	atomic.AddUint32(pub, 1)
	linux.FutexWake(pub, 1)
}

func (c *client) End(last uint64) {
	atomic.StoreUint64(c.word64(&c.c.last), last)
	// The blocks still held play out, within slack + 2 periods.
	until := mono.Now() + int64(c.c.slack+2)*c.period
	played := c.word64(&c.c.played)
	for atomic.LoadUint64(played) < last && c.err() == nil && mono.Now() < until {
		tick := c.word32(&c.c.tick)
		linux.FutexWaitUntil(tick, atomic.LoadUint32(tick), until)
	}
	atomic.StoreUint32(c.word32(&c.c.running), 0)
}

func (c *client) Priority() int {
	return max(0, int(C.jack_client_real_time_priority(c.c.client)))
}

func (c *client) Xruns() uint64 { return atomic.LoadUint64(c.word64(&c.c.xruns)) }

func (c *client) Close() error {
	c.closeMu.Do(func() { C.us_close(c.c) })
	return nil
}

// fieldErr is an error about a field of Config, wrapping
// audio.ErrInvalidConfig.
func fieldErr(field string, value any, format string, args ...any) error {
	return &procbridge.SpecError{Field: field, Value: fmt.Sprintf("%#v", value), Reason: fmt.Sprintf(format, args...), Err: audio.ErrInvalidConfig}
}
