//go:build !linux

package linux

// ProbePidfd reports that there are no pidfds.
func ProbePidfd() PidfdProbe {
	return PidfdProbe{Way: PidfdNone, Why: "pidfds need Linux"}
}
