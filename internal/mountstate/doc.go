// Package mountstate is the contract between a mount and its supervisor:
// the state directory's file names, the JSON state file of each mode, the
// temporary-file prefix of a mount in progress, the signal that restarts
// a FUSE mount's NFS session, and how a state file names its process so
// that the process can be recognised again (pid and start time).
//
// Mounts (internal/fusemount, internal/fallback) write these files; the
// watchdog and `efs-fuse status` read them. Both sides import this package
// and nothing of each other: the watchdog stays free of the FUSE, NFS, TLS
// and AWS code (`make lint` checks it).
package mountstate
