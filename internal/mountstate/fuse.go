package mountstate

import "fmt"

// FUSE is a FUSE-mode mount's state file, next to fallback ones in the
// state directory. The serving process writes it once mounted, refreshes
// the statistics while it serves and removes it on a clean unmount; the
// watchdog and `efs-fuse status` read it.
type FUSE struct {
	// PID is the process serving the mount; PIDStart its start time
	// (ProcessStart), so a pid reused by another process is not taken
	// for it.
	PID      int    `json:"pid"`
	PIDStart uint64 `json:"pid_start,omitempty"`
	// Cmd is the efs-fuse command line that mounts this file system again
	// (in the background: -f/--foreground removed).
	Cmd        []string `json:"cmd"`
	MountPoint string   `json:"mountpoint"`
	FSID       string   `json:"fsId"`
	DNSName    string   `json:"dnsName"`
	// MountTime is seconds since the epoch, as in fallback state files.
	MountTime float64 `json:"mount_time"`
	Mode      string  `json:"mode"`
	// UID and GID are who mounted: a remount by a root watchdog runs as them.
	UID int `json:"uid"`
	GID int `json:"gid"`

	// Live statistics of the NFS session, refreshed by the serving process.
	Connected     bool    `json:"connected"`
	Connections   int     `json:"connections,omitempty"` // bound to the session now (nconnect)
	Reconnects    int64   `json:"reconnects"`
	Recoveries    int64   `json:"recoveries"`
	LastError     string  `json:"last_error,omitempty"`
	LastErrorTime float64 `json:"last_error_time,omitempty"`
	// UpdateTime is when the serving process last wrote the file.
	UpdateTime float64 `json:"update_time"`
}

// ReadFUSE reads one FUSE-mode state file (see Read for what is refused).
// A malformed file is an error naming it, never a panic.
func ReadFUSE(path string) (*FUSE, error) {
	var s FUSE
	if err := Read(path, &s); err != nil {
		return nil, err
	}
	if s.PID <= 0 || s.MountPoint == "" || len(s.Cmd) == 0 || s.Mode != ModeFUSE {
		return nil, fmt.Errorf("state file %s is malformed: it needs pid, cmd, mountpoint and mode %q", path, ModeFUSE)
	}
	if err := checkPID(path, s.PID); err != nil {
		return nil, err
	}
	return &s, nil
}
