// Package watchdog supervises efs-fuse mounts from their state files: FUSE
// mounts (the serving process and its NFS session) and fallback mounts
// (the TLS tunnel in front of the kernel NFS client).
//
// Decisions are pure functions of (state, observation, policy) -> (state,
// decision), table-tested in decide_test.go; the loops only observe (mount
// table, process liveness, a statfs probe with a timeout) and act. Each mount
// has its own goroutine, so a mount whose statfs hangs never delays another,
// and one watchdog runs per host (per user when unprivileged), held by an
// flock on LockFileName in the state directory.
package watchdog
