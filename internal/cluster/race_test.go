//go:build race

package cluster_test

// raceSlowdown lengthens the tests' lease in a race build, whose node
// agents are held up for whole seconds on a loaded machine.
const raceSlowdown = 3
