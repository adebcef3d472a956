package linux

// PidfdWay is how a start gets a pidfd for the child it forks.
type PidfdWay int

const (
	// PidfdNone: no pidfds here; a child is watched through a pipe it
	// holds the write end of (the sentinel).
	PidfdNone PidfdWay = iota
	// PidfdClone: the fork itself hands the pidfd over (clone with
	// CLONE_PIDFD, or clone3).
	PidfdClone
	// PidfdOpen: the fork refuses CLONE_PIDFD but pidfd_open works; the
	// pidfd is opened right after the fork, while the child is unreaped
	// and its pid cannot name anyone else.
	PidfdOpen
)

func (w PidfdWay) String() string {
	switch w {
	case PidfdNone:
		return "sentinel pipe"
	case PidfdClone:
		return "pidfd from clone"
	case PidfdOpen:
		return "pidfd_open after fork"
	}
	return "PidfdWay(invalid)"
}

// PidfdProbe is what ProbePidfd found.
type PidfdProbe struct {
	Way PidfdWay
	// Why says what was refused when Way is not PidfdClone, else "".
	Why string
}
