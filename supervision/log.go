package supervision

import (
	"context"
	"log/slog"
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
