// Package limits holds the bounds and defaults that several layers share,
// each once: procbridge owns them and asserts them against its
// shared-memory layout at compile time; supervision and audio name them in
// their validation errors.
package limits

import "time"

// MaxSpares is the most spares one hot-standby group keeps beside its
// primary (procbridge.StartGroup, supervision's ChildSpec.Standby,
// audio's Config.Spares): one lane of the group's segment each.
const MaxSpares = 14

// DefaultStopGrace is the grace period of a stop whose StopGrace is zero
// (procbridge.Spec, supervision's ChildSpec), from SIGTERM to SIGKILL.
const DefaultStopGrace = 5 * time.Second
