package supervision

import (
	"context"
	"log/slog"
	"time"

	"github.com/understudy/understudy/procbridge"
)

// logEvent writes one record for ev, when the logger wants its level.
func (sh *shared) logEvent(ev Event) {
	level, msg := slog.LevelInfo, ""
	var attrs []slog.Attr
	switch e := ev.(type) {
	case ChildStarted:
		msg = "child started"
		attrs = append(attrs, slog.String("kind", e.Kind.String()))
	case ChildReady:
		msg = "child ready"
		if e.Pid != 0 {
			attrs = append(attrs, slog.Int("pid", e.Pid), slog.Duration("spawn_to_ready", e.SpawnToReady))
		}
	case ChildExited:
		msg = "child exited"
		if e.Pid != 0 {
			attrs = append(attrs, slog.Int("pid", e.Pid), slog.String("exit", e.Exit.String()))
		}
		if e.Err != nil {
			level = slog.LevelWarn
			attrs = append(attrs, slog.Any("err", e.Err))
		}
	case ChildHung:
		level, msg = slog.LevelWarn, "child hung"
		attrs = append(attrs, slog.Int("pid", e.Pid), slog.Any("err", e.Err))
	case ChildRestarting:
		msg = "child restarting"
		attrs = append(attrs, slog.Int("restarts", e.Restarts), slog.Any("cause", e.Cause))
		if e.NotSwitched != nil {
			level = slog.LevelWarn // a hot-standby child restarts cold
			attrs = append(attrs, slog.Any("not_switched", e.NotSwitched))
		}
	case ChildPromoted:
		// A failover is a failure of the primary; a switch is part of a
		// sibling's restart, whose failure is logged already.
		msg = "spare took over"
		if !e.Switched {
			level = slog.LevelWarn
		}
		attrs = append(attrs, slog.Int("old_pid", e.OldPid), slog.Int("new_pid", e.NewPid), slog.Uint64("epoch", e.Epoch),
			slog.Duration("detect_to_switch", time.Duration(e.SwitchMono-e.DetectMono)), slog.Int("restarts", e.Restarts))
		if e.Switched {
			attrs = append(attrs, slog.Bool("switched", true), slog.Any("cause", e.SwitchCause))
		} else if e.Cause != nil {
			attrs = append(attrs, slog.String("cause", primaryEnd(e.Cause)))
		}
	case ChildSpareReady:
		msg = "spare ready"
		attrs = append(attrs, slog.Int("pid", e.Pid), slog.Int("lane", e.Lane))
	case ChildSpareLost:
		level, msg = slog.LevelWarn, "spare lost"
		attrs = append(attrs, slog.Int("pid", e.Pid), slog.String("exit", e.Exit.String()), slog.Duration("retry", e.Retry))
	case ChildSpareFailed:
		level, msg = slog.LevelWarn, "spare failed to start"
		attrs = append(attrs, slog.Int("lane", e.Lane), slog.Any("err", e.Err), slog.Duration("retry", e.Retry))
	case ChildBackingOff:
		level, msg = slog.LevelWarn, "child backing off"
		attrs = append(attrs, slog.Duration("delay", e.Delay))
	case ChildTerminated:
		msg = "child terminated"
		attrs = append(attrs, slog.Bool("removed", e.Removed))
	case ChildStopped:
		msg = "child stopped"
		attrs = append(attrs, slog.String("reason", e.Reason.String()), slog.String("outcome", e.Outcome.String()), slog.Duration("took", e.Took))
		if e.Pid != 0 {
			attrs = append(attrs, slog.Int("pid", e.Pid))
		}
		if e.Outcome != StoppedInTime {
			level = slog.LevelWarn
		}
	case GaveUp:
		level, msg = slog.LevelError, "supervisor gave up"
		attrs = append(attrs, slog.Int("max_restarts", e.Intensity.MaxRestarts), slog.Duration("period", e.Intensity.Period), slog.Any("cause", e.Cause))
	case Escalated:
		level, msg = slog.LevelError, "supervisor escalated"
		attrs = append(attrs, slog.Any("err", e.Err))
	default:
		return
	}
	ctx := context.Background()
	if !sh.log.Enabled(ctx, level) {
		return
	}
	h := ev.EventHeader()
	attrs = append([]slog.Attr{slog.String("supervisor", h.Supervisor), slog.String("child", h.Child), slog.Int("incarnation", h.Incarnation)}, attrs...)
	sh.log.LogAttrs(ctx, level, msg, attrs...)
}

// primaryEnd says what gave a failed-over primary away.
func primaryEnd(ev procbridge.Event) string {
	switch e := ev.(type) {
	case procbridge.Dying:
		return "primary dying"
	case procbridge.Hung:
		return "primary hung"
	case procbridge.Exited:
		return "primary exited: " + e.Exit.String()
	}
	return "primary failed"
}
