//go:build !race

package cluster_test

const raceSlowdown = 1
