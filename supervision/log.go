package supervision

import (
	"context"
	"log/slog"

	"github.com/understudy/understudy/procbridge"
)

// logEvent writes one record for ev, when the logger wants its level.
func (sh *shared) logEvent(ev Event) {
	level, msg := slog.LevelInfo, ""
	var attrs []slog.Attr
	switch e := ev.(type) {
	case ChildStarted:
		msg = "child started"
	case ChildReady:
		msg = "child ready"
		if e.Ready != nil {
			attrs = append(attrs, slog.Int("pid", e.Ready.Pid), slog.Duration("spawn_to_ready", e.Ready.SpawnToReady))
		}
	case ChildExited:
		msg = "child exited"
		if e.Exited != nil {
			attrs = append(attrs, slog.Int("pid", e.Exited.Pid), slog.String("exit", e.Exited.Exit.String()))
		}
		if e.Err != nil {
			level = slog.LevelWarn
			attrs = append(attrs, slog.Any("err", e.Err))
		}
	case ChildProcess:
		level, msg, attrs = processRecord(e)
	case ChildRestarting:
		msg = "child restarting"
		attrs = append(attrs, slog.Int("restarts", e.Restarts), slog.Any("cause", e.Cause))
		if e.Delay > 0 {
			level = slog.LevelWarn // backing off
			attrs = append(attrs, slog.Duration("delay", e.Delay))
		}
		if e.NotSwitched != nil {
			level = slog.LevelWarn // a hot-standby child restarts cold
			attrs = append(attrs, slog.Any("not_switched", e.NotSwitched))
		}
	case ChildTerminated:
		msg = "child terminated"
		attrs = append(attrs, slog.Bool("removed", e.Removed))
	case ChildStopped:
		msg = "child stopped"
		attrs = append(attrs, slog.String("reason", e.Reason), slog.Duration("took", e.Took))
		if e.Exit != nil {
			attrs = append(attrs, slog.String("exit", e.Exit.String()))
		}
		if e.Killed {
			level = slog.LevelWarn
			attrs = append(attrs, slog.Bool("killed", true))
		}
		if e.Late {
			level = slog.LevelWarn
			attrs = append(attrs, slog.Bool("late", true))
		}
	case GaveUp:
		level, msg = slog.LevelError, "supervisor gave up"
		attrs = append(attrs, slog.Int("max_restarts", e.Intensity.MaxRestarts), slog.Duration("period", e.Intensity.Period), slog.Any("cause", e.Cause))
	default:
		return
	}
	ctx := context.Background()
	if !sh.log.Enabled(ctx, level) {
		return
	}
	h := ev.EventHeader()
	head := []slog.Attr{slog.String("supervisor", h.Supervisor), slog.String("child", h.Child), slog.Int("incarnation", h.Incarnation)}
	if h.Node != "" {
		head = append(head, slog.String("node", h.Node))
	}
	attrs = append(head, attrs...)
	sh.log.LogAttrs(ctx, level, msg, attrs...)
}

// processRecord is the record of a ChildProcess.
func processRecord(e ChildProcess) (slog.Level, string, []slog.Attr) {
	switch pe := e.Event.(type) {
	case procbridge.Hung:
		return slog.LevelWarn, "child hung", []slog.Attr{slog.Int("pid", pe.Pid), slog.Any("err", pe.Err)}
	case procbridge.Dying:
		return slog.LevelInfo, "child dying", []slog.Attr{slog.Int("pid", pe.Pid)}
	case procbridge.Violated:
		return slog.LevelWarn, "child broke the segment protocol", []slog.Attr{slog.Int("pid", pe.Pid), slog.Any("err", pe.Err)}
	case procbridge.Promoted:
		// A failover is a failure of the primary; a switch is part of a
		// sibling's restart, whose failure is logged already.
		level := slog.LevelWarn
		attrs := []slog.Attr{slog.Int("old_pid", pe.From), slog.Int("new_pid", pe.To), slog.Uint64("epoch", pe.Epoch),
			slog.Duration("detect_to_switch", pe.Switched.Sub(pe.Detected)), slog.Int("restarts", e.Restarts)}
		if e.Cause != nil {
			level = slog.LevelInfo
			attrs = append(attrs, slog.Bool("switched", true), slog.Any("cause", e.Cause))
		} else if pe.Cause != nil {
			attrs = append(attrs, slog.String("cause", primaryEnd(pe.Cause)))
		}
		return level, "spare took over", attrs
	case procbridge.SpareReady:
		return slog.LevelInfo, "spare ready", []slog.Attr{slog.Int("pid", pe.Pid), slog.Int("lane", pe.Lane)}
	case procbridge.SpareDown:
		if pe.Exit != nil {
			return slog.LevelWarn, "spare lost", []slog.Attr{slog.Int("pid", pe.Pid), slog.String("exit", pe.Exit.String()), slog.Duration("retry", pe.Retry)}
		}
		return slog.LevelWarn, "spare failed to start", []slog.Attr{slog.Int("lane", pe.Lane), slog.Any("err", pe.Err), slog.Duration("retry", pe.Retry)}
	}
	return slog.LevelInfo, "child process", []slog.Attr{slog.String("event", e.String())}
}

// primaryEnd says what gave a failed-over primary away.
func primaryEnd(ev procbridge.Event) string {
	switch e := ev.(type) {
	case procbridge.Dying:
		return "primary dying"
	case procbridge.Hung:
		return "primary hung"
	case procbridge.Violated:
		return "primary broke the segment protocol"
	case procbridge.Exited:
		return "primary exited: " + e.Exit.String()
	}
	return "primary failed"
}
