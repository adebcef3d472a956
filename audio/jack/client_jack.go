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
	"maps"
	"os"
	"slices"
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

	"golang.org/x/sys/unix"
)

// client is the engine's JACK client: a clock.Clock over the C side in
// client.c, whose words it reads and writes with atomics.
type client struct {
	c        *C.us_client
	cfg      Config
	frames   int
	chans    int
	period   int64
	ring     []float32 // the C side's ring of blocks
	inNames  []string  // the JACK input ports of the jack_in nodes
	inPath   string    // the input ring's file
	inMap    []byte    // the input ring
	inStride int
	margin   int64 // Margin's, when set; 0: the default
	closeMu  sync.Once
	stop     chan struct{} // closed by Close: the watch ends
	watched  chan struct{} // closed when the watch has ended
}

// open opens the client, and plans its inputs: the jack_in nodes of
// cfg's graph are rewritten to read the ring it creates. Attach, called by
// the engine's Start, registers its ports and activates it.
func open(cfg *Config) (clock.Clock, error) {
	c := &client{}
	if err := c.planInputs(cfg); err != nil {
		return nil, err
	}
	c.cfg = *cfg
	p, err := openClient(cfg.Name, cfg.Server, func(name, server *C.char, st *C.int) unsafe.Pointer {
		return unsafe.Pointer(C.us_open(name, server, st))
	})
	if err != nil {
		c.unmapInputs()
		return nil, err
	}
	c.c = (*C.us_client)(p)
	return c, nil
}

var rings atomic.Int64

// planInputs names a JACK input port for each port of each jack_in node,
// creates the ring they are copied into, and gives the nodes its id and
// their place in it. A graph with no jack_in node needs neither.
func (c *client) planInputs(cfg *Config) error {
	g := &cfg.Engine.Graph
	nodes := slices.Clone(g.Nodes)
	total := 0
	for i, n := range nodes {
		if n.Kind != inKind {
			continue
		}
		ports := 1
		if v, ok := n.Params["ports"]; ok {
			ports = int(v)
		}
		if ports < 1 || ports > maxInput {
			return nil // the graph's own check says what is wrong
		}
		p := maps.Clone(n.Params)
		if p == nil {
			p = audio.Params{}
		}
		p["first"] = float64(total)
		nodes[i].Params = p
		for k := range ports {
			c.inNames = append(c.inNames, fmt.Sprintf("%s.in%d", n.Name, k))
		}
		total += ports
	}
	if total == 0 || g.BlockSize < 1 {
		return nil
	}
	stride := inStride(total, g.BlockSize)
	id := int64(os.Getpid())<<16 | rings.Add(1)&0xffff
	path := fmt.Sprintf("%s%d", inPrefix, id)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("jack: the input ring: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(int64(inSlots * stride)); err != nil {
		os.Remove(path)
		return fmt.Errorf("jack: the input ring: %w", err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, inSlots*stride, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("jack: the input ring: %w", err)
	}
	for i := range nodes {
		if nodes[i].Kind == inKind {
			nodes[i].Params["ring"], nodes[i].Params["total"] = float64(id), float64(total)
		}
	}
	g.Nodes = nodes
	c.inPath, c.inMap, c.inStride = path, m, stride
	return nil
}

// unmapInputs lets go of the input ring.
func (c *client) unmapInputs() {
	if c.inMap != nil {
		unix.Munmap(c.inMap)
		os.Remove(c.inPath)
		c.inMap = nil
	}
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
	cnames := cStrings(names)
	defer C.free(unsafe.Pointer(cnames))
	inNames := make([]*C.char, len(c.inNames))
	for i, n := range c.inNames {
		inNames[i] = C.CString(n)
	}
	defer func() {
		for _, n := range inNames {
			C.free(unsafe.Pointer(n))
		}
	}()
	cin := cStrings(inNames)
	defer C.free(unsafe.Pointer(cin))
	var ring unsafe.Pointer
	if c.inMap != nil {
		ring = unsafe.Pointer(&c.inMap[0])
	}
	var errbuf [256]C.char
	if C.us_attach(c.c, C.int(s.Frames), C.int(s.Slack), C.int(s.Rate), C.int64_t(c.Margin()),
		cnames, C.int(len(names)), cin, C.int(len(inNames)), ring, C.int(c.inStride),
		&errbuf[0], C.int(len(errbuf))) != 0 {
		return fmt.Errorf("jack: %s", C.GoString(&errbuf[0]))
	}
	c.ring = unsafe.Slice((*float32)(unsafe.Pointer(c.c.ring)), slots*c.chans*c.frames)
	c.stop, c.watched = make(chan struct{}), make(chan struct{})
	go c.watch(watchBound(c.period))
	return c.connect(s.Ports)
}

// cStrings copies ps into C memory, for a const char **; the caller frees
// it.
func cStrings(ps []*C.char) **C.char {
	n := max(len(ps), 1)
	a := (**C.char)(C.malloc(C.size_t(n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))))
	copy(unsafe.Slice(a, n), ps)
	return a
}

// connect wires the sink's ports and the inputs as Config says.
func (c *client) connect(ports []string) error {
	if c.cfg.NoConnect {
		return nil
	}
	if err := c.connectInputs(); err != nil {
		return err
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

// connectInputs wires Config.Inputs, or the physical capture ports, to
// the jack_in nodes' ports.
func (c *client) connectInputs() error {
	sources := c.cfg.Inputs
	if len(sources) == 0 {
		sources = physicalPorts(c.c.client, C.JackPortIsOutput)
	}
	self := C.GoString(C.us_name(c.c))
	for i := range min(len(c.inNames), len(sources)) {
		from := C.CString(sources[i])
		to := C.CString(self + ":" + c.inNames[i])
		rc := C.us_connect(c.c, from, to)
		C.free(unsafe.Pointer(from))
		C.free(unsafe.Pointer(to))
		if rc != 0 && rc != C.EEXIST && len(c.cfg.Inputs) > 0 {
			return fieldErr(fmt.Sprintf("Inputs[%d]", i), sources[i], "cannot connect it to %s: no such output port on the server?", c.inNames[i])
		}
	}
	return nil
}

// physicalPlayback lists the server's physical playback ports.
func physicalPlayback(j *C.jack_client_t) []string { return physicalPorts(j, C.JackPortIsInput) }

// physicalPorts lists the server's physical ports with the given flag.
func physicalPorts(j *C.jack_client_t, flag C.ulong) []string {
	typ := C.CString(C.JACK_DEFAULT_AUDIO_TYPE)
	defer C.free(unsafe.Pointer(typ))
	list := C.jack_get_ports(j, nil, typ, C.JackPortIsPhysical|flag)
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

// watchBound is how long the watch lets the process callback be silent
// before it asks whether the server is still there: 20 periods, and at
// least a second, far beyond any stall of a live server on a slow machine.
func watchBound(period int64) time.Duration {
	return max(time.Second, 20*time.Duration(period))
}

// watch notices a server that went away without calling the shutdown
// callback, as PipeWire's libjack does when its daemon stops. When no
// process callback ran for bound, it asks whether the server still takes
// clients; when it does not, twice a bound apart, and still no callback
// ran, the client is marked gone as the shutdown callback would mark it.
// A live server, however slow, takes the probe (or refuses it only after
// a bound, by a timeout), and the watch goes on.
// The probe runs in a goroutine of its own, touching nothing of c: a
// stalled server holds it, never Close.
func (c *client) watch(bound time.Duration) {
	defer close(c.watched)
	costs := c.word64(&c.c.costs)
	gone := c.word32(&c.c.gone)
	seen, quiet := atomic.LoadUint64(costs), time.Now()
	failed := 0
	t := time.NewTicker(bound / 4)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		if atomic.LoadUint32(gone) != 0 {
			return
		}
		if n := atomic.LoadUint64(costs); n != seen {
			seen, quiet, failed = n, time.Now(), 0
			continue
		}
		if time.Since(quiet) < time.Duration(failed+1)*bound {
			continue
		}
		up := make(chan bool, 1)
		asked := time.Now()
		go func(server string) { up <- serverUp(server) }(c.cfg.Server)
		select {
		case <-c.stop:
			return
		case ok := <-up:
			// A refusal that took a bound is a stalled server's
			// timeout: a server gone refuses at once.
			if ok || time.Since(asked) >= bound || atomic.LoadUint64(costs) != seen {
				seen, quiet, failed = atomic.LoadUint64(costs), time.Now(), 0
				continue
			}
		}
		if failed++; failed >= 2 {
			C.us_gone(c.c)
			return
		}
	}
}

// serverUp reports whether a client can connect to server ("": the
// default).
func serverUp(server string) bool {
	var cserver *C.char
	if server != "" {
		cserver = C.CString(server)
		defer C.free(unsafe.Pointer(cserver))
	}
	return C.us_server_up(cserver) != 0
}

var errServerGone = errors.New("jack: the server shut the client down (it stopped, or dropped the client)")

// Margin is how long before the end of the period that plays a block the
// callback stops waiting for it (and the driver's deadline for the block):
// room for the callback to wake once the block is put, copy it, and
// return, and for the clients after it to run, before the server's next
// period begins. An eighth of a period, at least minMargin, at most half
// a period.
func (c *client) Margin() int64 {
	if c.margin > 0 {
		return c.margin
	}
	return defaultMargin(c.period)
}

// minMargin is the shortest default margin. A callback waiting for a
// block woke 28–32 µs after it was put (p50), 92–136 µs (p99), 0.7 ms
// at worst, on a 2-CPU virtual machine loaded 7–37.
const minMargin = int64(250 * time.Microsecond)

func defaultMargin(period int64) int64 {
	return min(max(period/8, minMargin), period/2)
}

func (c *client) Put(cycle uint64, ports [][]float32) {
	n := c.chans * c.frames
	slot := c.ring[int(cycle%slots)*n : int(cycle%slots+1)*n]
	for i, p := range ports {
		copy(slot[i*c.frames:(i+1)*c.frames], p)
	}
	if t := c.c.trace; t != nil {
		t.put[cycle%C.US_TRACE] = C.int64_t(mono.Now())
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
	c.closeMu.Do(func() {
		if c.stop != nil {
			close(c.stop)
			<-c.watched
		}
		C.us_close(c.c)
		c.unmapInputs()
	})
	return nil
}

// fieldErr is an error about a field of Config, wrapping
// audio.ErrInvalidConfig.
func fieldErr(field string, value any, format string, args ...any) error {
	return &procbridge.SpecError{Field: field, Value: fmt.Sprintf("%#v", value), Reason: fmt.Sprintf(format, args...), Err: audio.ErrInvalidConfig}
}
