package hang

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// us is a number of microseconds in nanoseconds.
func us(n float64) int64 { return int64(n * float64(time.Microsecond)) }

// monitor is procbridge's policy for a worker beating every 2 ms with a
// 5 ms timeout: a 500 us window, 4 ms on a busy machine, a cap of 250 ms,
// a sleeper's grace of a window. Its watch opens 1.5 ms before the
// deadline.
var monitor = Policy{
	Timeout:    us(5000),
	Interval:   us(2000),
	Window:     us(500),
	BusyWindow: SchedTick,
	Cap:        us(250_000),
	Grace:      us(500),
	Tick:       SchedTick,
}

// cycle is the audio engine's watchdog policy at 128 frames and 48 kHz,
// one block of slack: a watchdog of half the 2.67 ms period, windows of a
// quarter of that, a cap of two periods. It reads CPU through schedstat,
// takes no tick look, and gives a sleeper no grace.
var cycle = Policy{
	Timeout:    us(1333),
	Window:     us(333),
	BusyWindow: us(333),
	Cap:        us(5333),
}

// storm is procbridge's policy for a worker beating every 10 ms with a
// 100 ms timeout: 2 ms windows, 10 ms on a busy machine, a cap of 1 s, a
// start grace of 100 ms, and a worker held up by the machine looked at
// every 50 ms (while more than 25 workers are silent, 2 ms apart each) for
// up to 30 s of silence. Its watch opens 6 ms before the deadline.
var storm = Policy{
	Timeout:      us(100_000),
	Interval:     us(10_000),
	Window:       us(2000),
	BusyWindow:   us(10_000),
	Cap:          us(1_000_000),
	Grace:        us(2000),
	Tick:         SchedTick,
	StartGrace:   us(100_000),
	HeldUpWindow: us(50_000),
	HeldUpMax:    us(30_000_000),
	HeldUpSpread: us(2000),
}

// group is procbridge's policy for a hot-standby group's worker beating
// every 2 ms with a 50 ms timeout, the machine's state asked.
var group = Policy{
	Timeout:      us(50_000),
	Interval:     us(2000),
	Window:       us(500),
	BusyWindow:   SchedTick,
	Cap:          us(500_000),
	Grace:        us(500),
	Tick:         SchedTick,
	StartGrace:   us(100_000),
	HeldUpWindow: us(25_000),
	HeldUpMax:    us(30_000_000),
	HeldUpSpread: us(2000),
}

// young is the monitor's policy with its start grace and the machine's
// state asked, for workers in their first 100 ms after Ready.
var young = func() Policy {
	p := monitor
	p.StartGrace, p.HeldUpWindow, p.HeldUpMax = us(100_000), us(50_000), us(30_000_000)
	return p
}()

// The worker's last beat is at 0 in every row: its deadline is at 5 ms
// (monitor) or 1.333 ms (cycle). A monitor row's watch opened at 3.85 ms,
// after the readings of a look due at 3.5 ms; its first judging look is
// due at the deadline.

func TestJudge(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Policy
		s    Sample
		want Verdict
	}{
		// The look that opens the watch.
		{
			"the watch opens a lead before the deadline, every thread asleep: nothing judged, the next look at the deadline",
			monitor,
			Sample{Opening: true, Due: us(3500), Late: us(50), Now: us(3850)},
			Verdict{Step: Look, At: us(5000)},
		},
		{
			"opening the watch stalled in /proc past the deadline: half a window after the readings",
			monitor,
			Sample{Opening: true, Due: us(3500), Late: us(50), Now: us(6000), Runnable: true},
			Verdict{Step: Look, At: us(6250)},
		},
		{
			"the monitor's own 8-31 ms stall, the worker asleep with its loop not yet run: a first window as long as the stall",
			monitor,
			Sample{Opening: true, Due: us(3500), Late: us(20_000), Now: us(23_800)},
			Verdict{Step: Look, At: us(43_500)},
		},
		{
			"a monitor late by less than a busy machine's window: the short first window",
			monitor,
			Sample{Opening: true, Due: us(3500), Late: us(3000), Now: us(6800)},
			Verdict{Step: Look, At: us(7050)},
		},
		{
			"a monitor late by more than the cap: a first window of the cap",
			monitor,
			Sample{Opening: true, Due: us(3500), Late: us(400_000), Now: us(403_800)},
			Verdict{Step: Look, At: us(653_500)},
		},
		{
			"a worker held up in the kernel when the watch opens: nothing judged",
			monitor,
			Sample{Opening: true, Due: us(3500), Late: us(50), Now: us(3850), InKernel: true},
			Verdict{Step: Look, At: us(5000)},
		},

		// Sleepers.
		{
			"a sleeping hang at the deadline: the sleeper's window",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), CPUOK: true, Exact: true, Elapsed: us(1200)},
			Verdict{Step: Look, At: us(5500)},
		},
		{
			"a sleeping hang past the sleeper's window: asleep",
			monitor,
			Sample{Due: us(5500), Now: us(5550), SuspectAt: us(3850), CPUOK: true, Exact: true, Elapsed: us(1700)},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a young worker whose 2 ms sleep ran 3 ms long, asleep at the deadline: the sleeper's window, in which it beats",
			monitor,
			Sample{Due: us(5000), Now: us(5030), SuspectAt: us(3850), CPUOK: true, Exact: true, Ran: us(5), Elapsed: us(1180)},
			Verdict{Step: Look, At: us(5500)},
		},
		{
			"a young worker whose 2 ms sleep ran 6 ms long, every thread asleep: asleep (from outside, a sleeping hang)",
			monitor,
			Sample{Due: us(5500), Now: us(5540), SuspectAt: us(3850), CPUOK: true, Exact: true, Ran: us(10), Elapsed: us(1690)},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a worker whose CPU cannot be read, asleep past the sleeper's window: asleep",
			monitor,
			Sample{Due: us(5500), Now: us(5550), SuspectAt: us(3850)},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a worker that waited on a run queue and sleeps now, on an idle machine, its CPU read at the tick: the sleeper's window",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), CPUOK: true, Elapsed: us(1200), Waited: us(300)},
			Verdict{Step: Look, At: us(5500)},
		},

		// Spinners.
		{
			"a spinning hang read exactly: it ran through the window",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), Runnable: true, CPUOK: true, Exact: true,
				Ran: us(1150), Elapsed: us(1200), RanSince: us(1150)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a spinning hang on a busy machine: spinning all the same",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(700), Elapsed: us(1200), RanSince: us(700), Waited: us(500)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a spinner through the process clock, after its tick look: a whole interval of CPU since the watch opened",
			monitor,
			Sample{Due: us(9050), Now: us(9100), SuspectAt: us(3850), Runnable: true, CPUOK: true, TickLooked: true,
				Ran: us(2000), Elapsed: us(5250), RanSince: us(2000), RunSince: us(4000)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a spinner whose process clock cannot be read: schedstat shows an interval on a CPU since the watch opened",
			monitor,
			Sample{Due: us(9050), Now: us(9100), SuspectAt: us(3850), Runnable: true, TickLooked: true, RunSince: us(4000)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a spinner whose other threads ran: a young worker whose 2 ms sleep ran 5 ms long while its runtime's threads ran half the window (from outside, a spinning loop)",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), Runnable: true, CPUOK: true, Exact: true,
				Ran: us(700), Elapsed: us(1200), RanSince: us(700)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a look right after the window's reading: 100 us of CPU is too little to call it spinning",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), Runnable: true, CPUOK: true, Exact: true,
				Ran: us(100), Elapsed: us(150), RanSince: us(100)},
			Verdict{Step: Starved, At: us(5550), Starved: us(550)},
		},

		// Runnable workers whose CPU has not shown.
		{
			"a runnable worker on an idle machine whose CPU has not shown through the process clock (a spinner a tick from showing, or a sleeper whose other thread runs): one tick look",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), Runnable: true, CPUOK: true, Ran: us(0), Elapsed: us(1200)},
			Verdict{Step: Look, At: us(9050), TickLook: true},
		},
		{
			"a worker still runnable after its tick look, its CPU unmoved, past the sleeper's window: asleep",
			monitor,
			Sample{Due: us(9050), Now: us(9100), SuspectAt: us(3850), Runnable: true, CPUOK: true, TickLooked: true, Elapsed: us(5250)},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a spinner read exactly that shares a CPU with another task, in its first tick of suspicion: held up, looked at again a window later",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), Runnable: true, CPUOK: true, Exact: true,
				Ran: us(300), Elapsed: us(1200), RanSince: us(300), Waited: us(900)},
			Verdict{Step: Starved, At: us(5550), Starved: us(900)},
		},
		{
			"a runnable worker read exactly, past its first tick of suspicion, on a busy machine: at the busy machine's pace",
			monitor,
			Sample{Due: us(9000), Now: us(9050), SuspectAt: us(3850), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(100), Elapsed: us(500), RanSince: us(900), Waited: us(450)},
			Verdict{Step: Starved, At: us(13_050), Starved: us(4050)},
		},

		// Held up.
		{
			"a worker waiting for a CPU on a busy machine, its CPU read at the tick: starved, at the busy machine's pace",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), Runnable: true, CPUOK: true, Busy: true,
				Ran: us(0), Elapsed: us(1200), Waited: us(1100)},
			Verdict{Step: Starved, At: us(9050), Starved: us(4050)},
		},
		{
			"a worker that waited on a run queue and sleeps now, on a busy machine: held up",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), CPUOK: true, Busy: true, Elapsed: us(1200), Waited: us(600)},
			Verdict{Step: Starved, At: us(9050), Starved: us(4050)},
		},
		{
			"a worker held up in the kernel (D state), on an idle machine: held up, looked at again a window later",
			monitor,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), InKernel: true, CPUOK: true, Elapsed: us(1200)},
			Verdict{Step: Starved, At: us(5550), Starved: us(550)},
		},
		{
			"a worker held up in the kernel (D state) for 250 ms, past the cap of silence: held up",
			monitor,
			Sample{Due: us(250_000), Now: us(250_050), SuspectAt: us(3850), InKernel: true, CPUOK: true, Elapsed: us(550)},
			Verdict{Step: Hung, Kind: HeldUp},
		},
		{
			"a worker starved on a saturated machine past the cap of silence: held up",
			monitor,
			Sample{Due: us(249_000), Now: us(250_100), SuspectAt: us(3850), Runnable: true, CPUOK: true, Busy: true,
				Ran: us(10), Elapsed: us(4000), RanSince: us(900), Waited: us(3900)},
			Verdict{Step: Hung, Kind: HeldUp},
		},

		// False alarms in a restart storm and on a saturated machine (storm:
		// a watch opened at 94 ms, the deadline at 100 ms). Each was a
		// verdict before the machine's state, the leader's death and the
		// start grace were asked.
		{
			"a zombie leader, every thread Z, not yet reaped after a mass SIGKILL: dying, not hung; looked at again at the held-up pace",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Dead: true, CPUOK: true, Exact: true, Elapsed: us(8100)},
			Verdict{Step: Look, At: us(152_100)},
		},
		{
			"a leader gone from /proc (ESRCH), not yet reaped: dying, not hung",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Dead: true},
			Verdict{Step: Look, At: us(152_100)},
		},
		{
			"a zombie whose last readings showed a whole interval of CPU: dying, not spinning",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Dead: true, CPUOK: true, Exact: true,
				Ran: us(8000), Elapsed: us(8100), RanSince: us(10_000)},
			Verdict{Step: Look, At: us(152_100)},
		},
		{
			"asleep, silence 102 ms, the machine's PSI some 80 % of the watch: held up, looked at again 50 ms later",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), Pressure: us(6480), PressureOver: us(8100), PressureAvg: 80},
			Verdict{Step: Starved, At: us(152_100), Starved: us(50_100)},
		},
		{
			"asleep, silence 136 ms, PSI some 30 % of the watch: held up",
			storm,
			Sample{Due: us(136_000), Now: us(136_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(42_100), Pressure: us(12_630), PressureOver: us(42_100), PressureAvg: 30},
			Verdict{Step: Starved, At: us(186_100), Starved: us(50_100)},
		},
		{
			"asleep, the monitor itself woke 90 ms late in the silence (the machine stalled): held up",
			storm,
			Sample{Due: us(102_000), Now: us(190_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(96_100), Stalled: true},
			Verdict{Step: Starved, At: us(240_100), Starved: us(138_100)},
		},
		{
			"asleep, 40 of 128 workers overdue at once: held up, looked at again 80 ms later (40 looks 2 ms apart), on the 50 ms grid",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), Overdue: 40, Watched: 128},
			Verdict{Step: Starved, At: us(200_000), Starved: us(98_000), HeldTo: us(150_000)},
		},
		{
			"asleep, 200 of 512 workers overdue at once (overload), 1.25 s of silence: held up, not past the cap, looked at again 400 ms later, on the 50 ms grid",
			storm,
			Sample{Due: us(1_250_000), Now: us(1_250_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Overdue: 200, Watched: 512},
			Verdict{Step: Starved, At: us(1_700_000), Starved: us(450_000), HeldTo: us(1_650_000)},
		},
		{
			"runnable and waiting for a CPU, 100 of 512 overdue, 2 s of silence (past the busy cap of 1 s): held up, looked at again 200 ms later",
			storm,
			Sample{Due: us(2_000_000), Now: us(2_000_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(100), Elapsed: us(50_100), RanSince: us(900), Waited: us(40_000), Overdue: 100, Watched: 512},
			Verdict{Step: Starved, At: us(2_250_000), Starved: us(250_000), HeldTo: us(2_200_000)},
		},

		// Overload: hundreds of workers silent at once (512 at 10 ms on two
		// CPUs). Each is looked at as many spreads apart as there are silent
		// workers, so that the monitor's looks at all of them come about 500
		// a second, not one per worker every 50 ms (10,000 a second at 500,
		// on a raised thread, taking the CPU the workers, and a stop, waited
		// for); on a grid of 50 ms, so that a wake serves many; and never
		// past the silence's limit.
		{
			"asleep, 5 of 64 workers overdue, 10 silent: held up, looked at again 50 ms later (their looks fit in one window)",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), Overdue: 5, Silent: 10, Watched: 64},
			Verdict{Step: Starved, At: us(152_100), Starved: us(50_100)},
		},
		{
			"asleep, all 512 workers silent, 500 overdue, 1.25 s of silence: looked at again 1.024 s later, on the 50 ms grid",
			storm,
			Sample{Due: us(1_250_000), Now: us(1_250_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Overdue: 500, Silent: 512, Watched: 512},
			Verdict{Step: Starved, At: us(2_300_000), Starved: us(1_050_000), HeldTo: us(2_250_000)},
		},
		{
			"runnable and waiting for a CPU, 300 of 512 overdue, 29.5 s of silence: the next look at the held-up maximum, 30 s, not past it",
			storm,
			Sample{Due: us(29_500_000), Now: us(29_500_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(100), Elapsed: us(50_100), RanSince: us(900), Waited: us(40_000), Overdue: 300, Silent: 300, Watched: 512},
			Verdict{Step: Starved, At: us(30_000_000), Starved: us(500_000), HeldTo: us(29_950_000)},
		},
		{
			"asleep under CPU pressure alone (PSI 80 %), 20 of 512 overdue, 100 silent, 0.9 s of silence: the next look at the cap, 1 s, not past it",
			storm,
			Sample{Due: us(900_000), Now: us(900_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Pressure: us(40_000), PressureOver: us(50_100), PressureAvg: 80, Overdue: 20, Silent: 100, Watched: 512},
			Verdict{Step: Starved, At: us(1_000_000), Starved: us(100_000), HeldTo: us(950_000)},
		},
		{
			"asleep at the look put off 1.05 s, the machine holding no more (3 of 512 silent), held up till 50 ms before it: a timeout from then, not asleep at once",
			storm,
			Sample{Due: us(2_300_000), Now: us(2_300_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(1_050_000), Overdue: 3, Silent: 3, Watched: 512, HeldAt: us(2_250_000), MachineAt: us(1_250_100)},
			Verdict{Step: Look, At: us(2_352_000)},
		},
		{
			"asleep, all 512 workers silent, at the held-up maximum's look: hung, held up",
			storm,
			Sample{Due: us(30_000_000), Now: us(30_000_000), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(700_000), Overdue: 500, Silent: 512, Watched: 512},
			Verdict{Step: Hung, Kind: HeldUp},
		},
		{
			"runnable and waiting for a CPU under PSI 90 %, 1.03 s of silence, 5 of 256 overdue (a 256-worker storm): held up past the busy cap",
			storm,
			Sample{Due: us(1_030_000), Now: us(1_030_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(100), Elapsed: us(50_100), RanSince: us(900), Waited: us(30_000), Pressure: us(45_000), PressureOver: us(50_100), PressureAvg: 90, Overdue: 5, Watched: 256},
			Verdict{Step: Starved, At: us(1_080_100), Starved: us(50_100)},
		},
		{
			"a sleeping hang on a quiet machine (PSI 10 s average 5 %) whose short watch caught a burst of 60 %: asleep at the sleeper's window",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), Pressure: us(4860), PressureOver: us(8100), PressureAvg: 5},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a young worker (no beat since Ready, 150 ms old) asleep on an idle machine: its deadline is 100 ms later",
			storm,
			Sample{Due: us(102_000), Now: us(150_000), SuspectAt: us(94_000), CPUOK: true, Exact: true, Elapsed: us(56_000)},
			Verdict{Step: Look, At: us(200_000)},
		},
		{
			"a young 2 ms / 5 ms worker asleep 5.5 ms after Ready: its deadline is 100 ms later",
			young,
			Sample{Due: us(5500), Now: us(5550), SuspectAt: us(3850), CPUOK: true, Exact: true, Elapsed: us(1700)},
			Verdict{Step: Look, At: us(105_000)},
		},
		{
			"a 2 ms / 5 ms worker 50 ms after Ready, beating until 45 ms, its runtime's threads running half the window (from outside, a spinner): young, not judged before 105 ms",
			young,
			Sample{Due: us(5000), Now: us(5050), SuspectAt: us(3850), Ready: -us(45_000), Runnable: true, CPUOK: true, Exact: true,
				Ran: us(700), Elapsed: us(1200), RanSince: us(700)},
			Verdict{Step: Look, At: us(60_000)},
		},
		{
			"a young worker opening its watch: nothing judged before its start grace has passed",
			storm,
			Sample{Opening: true, Due: us(94_000), Late: us(50), Now: us(94_300)},
			Verdict{Step: Look, At: us(200_000)},
		},

		// Real hangs under the same rules.
		{
			"a young worker asleep past its start grace on an idle machine: asleep",
			storm,
			Sample{Due: us(202_000), Now: us(202_100), SuspectAt: us(94_000), CPUOK: true, Exact: true, Elapsed: us(108_100)},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a sleeping hang on an idle machine (PSI 2 %, one worker overdue): asleep at the sleeper's window",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), Pressure: us(160), PressureOver: us(8100), PressureAvg: 2, Overdue: 1, Watched: 128},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"two workers overdue of 8: not many, a sleeping hang is asleep",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), Overdue: 2, Watched: 8},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a spinner on a saturated machine (PSI 90 %, 40 of 128 overdue), 4 ms on a CPU since the watch opened: held up until it shows an interval",
			storm,
			Sample{Due: us(100_000), Now: us(100_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(4000), Elapsed: us(6100), RanSince: us(4000), Waited: us(2000), Pressure: us(5490), PressureOver: us(6100), PressureAvg: 90, Overdue: 40, Watched: 128},
			Verdict{Step: Starved, At: us(200_000), Starved: us(100_000), HeldTo: us(150_000)},
		},
		{
			"the same spinner at its next look, 14 ms on a CPU since the watch opened: spinning",
			storm,
			Sample{Due: us(200_000), Now: us(200_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(10_000), Elapsed: us(100_000), RanSince: us(14_000), Waited: us(90_000), Pressure: us(95_000), PressureOver: us(106_100), PressureAvg: 90, Overdue: 40, Watched: 128},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a healthy worker after a restart storm (PSI 98 %), its runtime's threads on a CPU 1.5 ms of the 2 ms window, its loop not run: held up, not spinning",
			storm,
			Sample{Due: us(100_000), Now: us(100_400), SuspectAt: us(94_000), Ready: -us(300_000), CPUOK: true, Exact: true, Busy: true,
				Ran: us(1500), Elapsed: us(2400), RanSince: us(1500), Pressure: us(6000), PressureOver: us(6400), PressureAvg: 98},
			Verdict{Step: Starved, At: us(150_400), Starved: us(50_400)},
		},
		{
			"the same on an idle machine: spinning (from outside, a loop that spins)",
			storm,
			Sample{Due: us(100_000), Now: us(100_400), SuspectAt: us(94_000), Ready: -us(300_000), CPUOK: true, Exact: true,
				Ran: us(1500), Elapsed: us(2400), RanSince: us(1500), PressureOver: us(6400), PressureAvg: 2},
			Verdict{Step: Hung, Kind: Spinning},
		},
		// A promoted spare on a machine other work saturated (PSI 98 %),
		// its loop waiting for a CPU while its runtime's threads, which
		// wake and sleep, had 2 to 3 ms of CPU over the watch: read from
		// verdicts that killed a healthy primary of a group.
		{
			"a group's primary kept off a CPU (waited 1.29 s in the window), 2 ms of CPU since the watch opened, no thread of it ran 2 ms without sleeping: held up, not spinning",
			group,
			Sample{Due: us(926_200), Now: us(926_900), SuspectAt: us(49_550), Ready: -us(1_043_000), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(1884), Elapsed: us(25_700), RanSince: us(1884), RunSince: us(2003), Waited: us(1_287_676), Nonstop: us(300), NonstopOK: true,
				Pressure: us(870_000), PressureOver: us(877_000), PressureAvg: 98, Overdue: 1, Silent: 1, Watched: 1, HeldAt: us(901_200), MachineAt: us(901_200)},
			Verdict{Step: Starved, At: us(951_900), Starved: us(1_287_676)},
		},
		{
			"the same, one of its threads 2 ms on a CPU without sleeping since the watch opened: spinning",
			group,
			Sample{Due: us(926_200), Now: us(926_900), SuspectAt: us(49_550), Ready: -us(1_043_000), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(1884), Elapsed: us(25_700), RanSince: us(1884), RunSince: us(2003), Waited: us(1_287_676), Nonstop: us(2000), NonstopOK: true,
				Pressure: us(870_000), PressureOver: us(877_000), PressureAvg: 98, Overdue: 1, Silent: 1, Watched: 1, HeldAt: us(901_200), MachineAt: us(901_200)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"the same where the threads' sleeps cannot be read: spinning, as before",
			group,
			Sample{Due: us(926_200), Now: us(926_900), SuspectAt: us(49_550), Ready: -us(1_043_000), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(1884), Elapsed: us(25_700), RanSince: us(1884), RunSince: us(2003), Waited: us(1_287_676),
				Pressure: us(870_000), PressureOver: us(877_000), PressureAvg: 98, Overdue: 1, Silent: 1, Watched: 1, HeldAt: us(901_200), MachineAt: us(901_200)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a group's primary 150 ms after its promotion, 0.41 ms of CPU in a 0.64 ms window with no pressure seen yet, its threads sleeping between: not spinning, looked at again",
			group,
			Sample{Due: us(150_000), Now: us(150_500), SuspectAt: us(147_360), Ready: -us(1600), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(411), Elapsed: us(643), RanSince: us(615), RunSince: us(760), Waited: us(2914), Nonstop: us(60), NonstopOK: true,
				PressureOver: us(3140), PressureAvg: 98, Overdue: 1, Silent: 1, Watched: 1, HeldAt: us(149_880)},
			Verdict{Step: Starved, At: us(151_000), Starved: us(2914)},
		},
		{
			"the same, the CPU one thread's that never slept: spinning",
			group,
			Sample{Due: us(150_000), Now: us(150_500), SuspectAt: us(147_360), Ready: -us(1600), Runnable: true, CPUOK: true, Exact: true, Busy: true,
				Ran: us(411), Elapsed: us(643), RanSince: us(615), RunSince: us(760), Waited: us(2914), Nonstop: us(400), NonstopOK: true,
				PressureOver: us(3140), PressureAvg: 98, Overdue: 1, Silent: 1, Watched: 1, HeldAt: us(149_880)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a stopped worker (SIGSTOP, state T) on a saturated machine: asleep, at the sleeper's window",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Stopped: true, CPUOK: true, Exact: true,
				Elapsed: us(8100), Pressure: us(7000), PressureOver: us(8100), PressureAvg: 86, Overdue: 40, Watched: 128},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"asleep under CPU pressure alone (PSI 80 %) for 1 s, the cap: hung, held up",
			storm,
			Sample{Due: us(1_000_000), Now: us(1_000_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Pressure: us(40_000), PressureOver: us(50_100), PressureAvg: 80},
			Verdict{Step: Hung, Kind: HeldUp},
		},
		{
			"asleep with 40 of 128 workers overdue for 30 s, the documented maximum: hung, held up",
			storm,
			Sample{Due: us(30_000_000), Now: us(30_000_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Overdue: 40, Watched: 128},
			Verdict{Step: Hung, Kind: HeldUp},
		},
		{
			"a sleeping hang on an idle machine whose monitor stalled once, 50 ms after the look that held it up: a timeout from that look",
			storm,
			Sample{Due: us(152_100), Now: us(152_200), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Pressure: us(100), PressureOver: us(50_100), PressureAvg: 2, HeldAt: us(102_100)},
			Verdict{Step: Look, At: us(204_100)},
		},
		{
			"a sleeping hang on an idle machine whose monitor stalled once, a timeout after the look that held it up: asleep",
			storm,
			Sample{Due: us(204_100), Now: us(204_200), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(52_100), Pressure: us(100), PressureOver: us(52_100), PressureAvg: 2, HeldAt: us(102_100)},
			Verdict{Step: Hung, Kind: Asleep},
		},

		// A machine stall the guest's pressure account does not show: the
		// host did not run the CPU that holds the workers' timers, so every
		// worker on it stopped at once, every thread asleep, nothing waiting
		// on a run queue. (The soak's false "hung (asleep)" at 102 ms.)
		{
			"asleep, silence 102 ms, no pressure in the watch (PSI 10 s average 98 %), the two other workers silent as long: held up, looked at again 50 ms later",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), PressureOver: us(8100), PressureAvg: 98, Silent: 3, Watched: 3},
			Verdict{Step: Starved, At: us(152_100), Starved: us(50_100)},
		},
		{
			"asleep, silence 102 ms, no pressure in the watch, the other two workers beating: asleep at the sleeper's window",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), PressureOver: us(8100), PressureAvg: 98, Silent: 1, Watched: 3},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"asleep, one other worker of 3 silent as long: two are not a stall, asleep",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), Silent: 2, Watched: 3},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"asleep, 3 of 8 workers silent: less than half, asleep",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(8100), Silent: 3, Watched: 8},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"2 ms / 5 ms workers, all 8 silent in a stall, 300 ms of silence: held up past the 250 ms cap",
			young,
			Sample{Due: us(300_000), Now: us(300_100), SuspectAt: us(3500), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(4100), Pressure: us(4000), PressureOver: us(296_600), PressureAvg: 90, Silent: 8, Watched: 8},
			Verdict{Step: Starved, At: us(350_100), Starved: us(50_100)},
		},
		{
			"the stall ended (the others beat again), asleep 50 ms after the look that held it up: a timeout from that look",
			storm,
			Sample{Due: us(152_100), Now: us(152_200), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Silent: 1, Watched: 3, HeldAt: us(102_100)},
			Verdict{Step: Look, At: us(204_100)},
		},
		{
			"the stall ended past the cap, the thawed worker waiting for a CPU 12 ms after the look that held it up: held up, not hung",
			storm,
			Sample{Due: us(1_512_000), Now: us(1_512_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Runnable: true, Waited: us(1000), CPUOK: true, Exact: true,
				Elapsed: us(12_100), Silent: 1, Watched: 3, HeldAt: us(1_500_000), MachineAt: us(1_500_000)},
			Verdict{Step: Starved, At: us(1_514_100), Starved: us(2100)},
		},
		{
			"waiting for a CPU past the cap, held up before by the CPU alone, not the machine: hung, held up",
			storm,
			Sample{Due: us(1_512_000), Now: us(1_512_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Runnable: true, Waited: us(1000), CPUOK: true, Exact: true,
				Elapsed: us(12_100), Silent: 1, Watched: 3, HeldAt: us(1_500_000)},
			Verdict{Step: Hung, Kind: HeldUp},
		},
		{
			"every worker silent for 30 s, the documented maximum: hung, held up",
			storm,
			Sample{Due: us(30_000_000), Now: us(30_000_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Silent: 3, Watched: 3, HeldAt: us(29_950_000)},
			Verdict{Step: Hung, Kind: HeldUp},
		},
		{
			"asleep right after a stall that ended near the maximum: called at the maximum, not a timeout past it",
			storm,
			Sample{Due: us(29_990_000), Now: us(29_990_100), SuspectAt: us(94_000), Ready: -us(1_000_000), CPUOK: true, Exact: true,
				Elapsed: us(50_100), Silent: 1, Watched: 3, HeldAt: us(29_950_000)},
			Verdict{Step: Look, At: us(30_002_000)},
		},
		{
			"a stopped worker (SIGSTOP) while every worker is silent: asleep at once",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Stopped: true, CPUOK: true, Exact: true,
				Elapsed: us(8100), Silent: 3, Watched: 3},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a spinner while every worker is silent, a whole interval on a CPU since the watch opened: spinning",
			storm,
			Sample{Due: us(102_000), Now: us(102_100), SuspectAt: us(94_000), Ready: -us(1_000_000), Runnable: true, CPUOK: true, Exact: true,
				Ran: us(7000), Elapsed: us(8100), RanSince: us(10_000), Silent: 3, Watched: 3},
			Verdict{Step: Hung, Kind: Spinning},
		},

		// The in-cycle watchdog: its first look is at the deadline, with no
		// window of CPU yet.
		{
			"a node asleep past its watchdog: fenced, asleep",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a node stopped (SIGSTOP) past its watchdog: fenced",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"a node whose process is gone: fenced",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true},
			Verdict{Step: Hung, Kind: Asleep},
		},
		{
			"SCHED_FIFO node runnable past its watchdog, its CPU not probed: overrun",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, Runnable: true, FIFO: true},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"SCHED_FIFO node runnable past its watchdog, on its CPU since its wake (the probe preempted it: CPU accrued ≈ elapsed): overrun",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, Runnable: true, FIFO: true, Probed: true, ProbeRan: us(1300)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"SCHED_FIFO node on its CPU since a tick a quarter of a window ago: overrun",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, Runnable: true, FIFO: true, Probed: true, ProbeRan: us(85)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"SCHED_FIFO node on its CPU only since just before its look (woken late, or its CPU just let go): held, another window",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, Runnable: true, FIFO: true, Probed: true, ProbeRan: us(4)},
			Verdict{Step: Starved, At: us(1673), Starved: us(340)},
		},
		{
			"SCHED_FIFO node off its CPU at the look, its window's CPU grown by what it ran before its CPU stopped: held, another window",
			cycle,
			Sample{Due: us(1673), Now: us(1680), Busy: true, Runnable: true, FIFO: true, Probed: true, CPUOK: true,
				Ran: us(821), Elapsed: us(340)},
			Verdict{Step: Starved, At: us(2013), Starved: us(340)},
		},
		{
			"SCHED_FIFO node runnable past its watchdog, queued behind higher-priority work (the probe ran, no CPU accrued): held, another window",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, Runnable: true, FIFO: true, Probed: true},
			Verdict{Step: Starved, At: us(1673), Starved: us(340)},
		},
		{
			"SCHED_FIFO node runnable past its watchdog on a CPU the host holds (the probe did not run): held, another window",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, Runnable: true, FIFO: true, Probed: true},
			Verdict{Step: Starved, At: us(1673), Starved: us(340)},
		},
		{
			"SCHED_FIFO node held a window, no CPU accrued, its run_delay grown: held, another window",
			cycle,
			Sample{Due: us(1673), Now: us(1680), Busy: true, Runnable: true, FIFO: true, Probed: true, CPUOK: true,
				Elapsed: us(340), Waited: us(300)},
			Verdict{Step: Starved, At: us(2013), Starved: us(340)},
		},
		{
			"SCHED_FIFO node held a window, then on its CPU the whole next one (CPU accrued ≈ elapsed): overrun",
			cycle,
			Sample{Due: us(2013), Now: us(2020), Busy: true, Runnable: true, FIFO: true, Probed: true, ProbeRan: us(335), CPUOK: true,
				Ran: us(335), Elapsed: us(340)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"SCHED_FIFO node held off its CPU past its cap: fenced, held up",
			cycle,
			Sample{Due: us(5340), Now: us(5345), Busy: true, Runnable: true, FIFO: true, Probed: true, CPUOK: true,
				Elapsed: us(340)},
			Verdict{Step: Hung, Kind: HeldUp},
		},
		{
			"a SCHED_FIFO node in the kernel past its watchdog: fenced as an overrun",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, InKernel: true, FIFO: true},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a runnable node in normal scheduling past its watchdog: watched for a window",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, Runnable: true},
			Verdict{Step: Starved, At: us(1673), Starved: us(340)},
		},
		{
			"a node in the kernel (D state) in normal scheduling past its watchdog: watched like a runnable one",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, InKernel: true},
			Verdict{Step: Starved, At: us(1673), Starved: us(340)},
		},
		{
			"a spare still taking over (its lane not yet active): given its time",
			cycle,
			Sample{Due: us(1333), Now: us(1340), Busy: true, Runnable: true},
			Verdict{Step: Starved, At: us(1673), Starved: us(340)},
		},
		{
			"a runnable node that ran half the window: an overrun, fenced",
			cycle,
			Sample{Due: us(1673), Now: us(1680), Busy: true, Runnable: true, CPUOK: true, Ran: us(200), Elapsed: us(340)},
			Verdict{Step: Hung, Kind: Spinning},
		},
		{
			"a runnable node that did not run half the window: starved, another window",
			cycle,
			Sample{Due: us(1673), Now: us(1680), Busy: true, Runnable: true, CPUOK: true, Ran: us(50), Elapsed: us(340)},
			Verdict{Step: Starved, At: us(2013), Starved: us(340)},
		},
		{
			"a node whose CPU time reads 0: never fenced for its CPU",
			cycle,
			Sample{Due: us(1673), Now: us(1680), Busy: true, Runnable: true, Ran: us(400), Elapsed: us(340)},
			Verdict{Step: Starved, At: us(2013), Starved: us(340)},
		},
		{
			"a starved node past its cap: fenced, held up",
			cycle,
			Sample{Due: us(5340), Now: us(5345), Busy: true, Runnable: true, CPUOK: true, Ran: us(10), Elapsed: us(340)},
			Verdict{Step: Hung, Kind: HeldUp},
		},
		{
			"a node asleep past its cap: fenced",
			cycle,
			Sample{Due: us(5340), Now: us(5345), Busy: true},
			Verdict{Step: Hung, Kind: Asleep},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Judge(c.p, c.s)
			assert.Equal(t, c.want, got)
			if got.Step == Hung {
				assert.False(t, c.s.Opening, "hung at the look that opens the watch")
				assert.GreaterOrEqual(t, c.s.Now, c.p.Deadline(c.s.Progress, c.s.Ready), "hung before the deadline")
			} else {
				assert.Greater(t, got.At, c.s.Now, "the next look is not later")
			}
		})
	}
}
