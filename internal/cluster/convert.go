package cluster

import (
	"errors"
	"os"
	"syscall"
	"time"

	"github.com/understudy/understudy/internal/actors"
	"github.com/understudy/understudy/internal/cluster/wire"
	"github.com/understudy/understudy/procbridge"
)

// toWire is the part of spec that crosses to a node: all of it but
// ExtraFiles (refused for a remote child) and the output, which goes to
// the node agent's own stdout and stderr.
func toWire(spec procbridge.Spec) *wire.Spec {
	return &wire.Spec{
		Name: spec.Name, Path: spec.Path, Worker: spec.Worker, Args: spec.Args,
		Env: spec.Env, EnvSet: spec.Env != nil, Dir: spec.Dir, Sdk: spec.SDK, Notify: spec.Notify,
		ReadyTimeoutNs:      int64(spec.ReadyTimeout),
		HeartbeatIntervalNs: int64(spec.Heartbeat.Interval),
		HeartbeatTimeoutNs:  int64(spec.Heartbeat.Timeout),
		StopGraceNs:         int64(spec.StopGrace),
		StateSize:           int64(spec.StateSize),
		RingSize:            int64(spec.RingSize),
		MemoryMax:           spec.MemoryMax,
		CpuMax:              spec.CPUMax,
		PidsMax:             int64(spec.PidsMax),
	}
}

// fromWire is the procbridge.Spec a node runs, with the copy's lease
// token, epoch and node in its environment.
func fromWire(w *wire.Spec, token, node string, epoch uint64) procbridge.Spec {
	env := w.GetEnv()
	if !w.GetEnvSet() {
		env = os.Environ()
	}
	env = append(append([]string(nil), env...),
		leaseEnv+"="+token, EpochEnv+"="+uitoa(epoch), NodeEnv+"="+node)
	return procbridge.Spec{
		Name: w.GetName(), Path: w.GetPath(), Worker: w.GetWorker(), Args: w.GetArgs(),
		Env: env, Dir: w.GetDir(), SDK: w.GetSdk(), Notify: w.GetNotify(),
		ReadyTimeout: time.Duration(w.GetReadyTimeoutNs()),
		Heartbeat: procbridge.Heartbeat{
			Interval: time.Duration(w.GetHeartbeatIntervalNs()),
			Timeout:  time.Duration(w.GetHeartbeatTimeoutNs()),
		},
		StopGrace: time.Duration(w.GetStopGraceNs()),
		StateSize: int(w.GetStateSize()),
		RingSize:  int(w.GetRingSize()),
		MemoryMax: w.GetMemoryMax(),
		CPUMax:    w.GetCpuMax(),
		PidsMax:   int(w.GetPidsMax()),
	}
}

// The environment a copy gets besides its spec's: which epoch it runs
// under (above every earlier copy's: a worker that writes somewhere
// shared can refuse writes from a lower one) and on which node.
const (
	EpochEnv = "UNDERSTUDY_LEASE_EPOCH"
	NodeEnv  = "UNDERSTUDY_NODE"
)

func uitoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func exitToWire(x procbridge.Exit) *wire.Exit {
	return &wire.Exit{Kind: string(x.Kind), Code: int32(x.Code), Signal: int32(x.Signal), CoreDumped: x.CoreDumped}
}

func exitFromWire(w *wire.Exit) procbridge.Exit {
	return procbridge.Exit{
		Kind: procbridge.ExitKind(w.GetKind()), Code: int(w.GetCode()),
		Signal: syscall.Signal(w.GetSignal()), CoreDumped: w.GetCoreDumped(), Time: time.Now(),
	}
}

// eventToWire turns a process actor's notification into the event its
// node sends the owner; false for one that does not cross.
func eventToWire(n actors.Notification) (*wire.Event, bool) {
	ev := &wire.Event{}
	switch m := n.(type) {
	case *actors.ProcessReady:
		ev.Kind, ev.Pid, ev.SpawnToReadyNs = wire.Event_READY, int32(m.Pid), int64(m.SpawnToReady)
	case *actors.ProcessHung:
		ev.Kind, ev.Pid = wire.Event_HUNG, int32(m.Pid)
		if m.Err != nil {
			ev.Err, ev.HangSilenceNs, ev.HangTimeoutNs, ev.HangKind = m.Err.Error(), int64(m.Err.Silence), int64(m.Err.Timeout), m.Err.Kind
		}
	case *actors.ProcessDying:
		ev.Kind, ev.Pid = wire.Event_DYING, int32(m.Pid)
	case *actors.ProcessExited:
		ev.Kind, ev.Pid, ev.Exit = wire.Event_EXITED, int32(m.Pid), exitToWire(m.Exit)
		if m.Err != nil {
			ev.Err = m.Err.Error()
		}
	case *actors.ProcessStartFailed:
		ev.Kind, ev.Err = wire.Event_START_FAILED, m.Err.Error()
		var xe *procbridge.ExitError
		if errors.As(m.Err, &xe) {
			ev.Pid, ev.Exit = int32(xe.Pid), exitToWire(xe.Exit)
		}
	case *actors.ProcessPromoted:
		ev.Kind, ev.Pid, ev.ToPid, ev.GroupEpoch = wire.Event_PROMOTED, int32(m.Promoted.From), int32(m.Promoted.To), m.Promoted.Epoch
	case *actors.ProcessSpareReady:
		ev.Kind, ev.Pid, ev.Lane = wire.Event_SPARE_READY, int32(m.Pid), int32(m.Lane)
	case *actors.ProcessSpareDown:
		ev.Kind, ev.Pid, ev.Lane = wire.Event_SPARE_DOWN, int32(m.Pid), int32(m.Lane)
		if m.Exit != nil {
			ev.Exit = exitToWire(*m.Exit)
		}
		if m.Err != nil {
			ev.Err = m.Err.Error()
		}
	default:
		return nil, false
	}
	return ev, true
}
