// Package limits holds the bounds that several layers check their input
// against, each once: procbridge owns them and asserts them against its
// shared-memory layout at compile time; supervision and audio name them in
// their validation errors.
package limits

// MaxSpares is the most spares one hot-standby group keeps beside its
// primary (procbridge.StartGroup, supervision's ChildSpec.Standby,
// audio's Config.Spares): one lane of the group's segment each.
const MaxSpares = 14
