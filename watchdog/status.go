package watchdog

import (
	"sort"
	"time"
)

// Mount states shown by `efs-fuse status`.
const (
	StateHealthy      = "healthy"
	StateReconnecting = "reconnecting"
	StateDead         = "dead"
	StateUnmounted    = "unmounted"
	StateUnreadable   = "unreadable"
)

// MountStatus is one line of `efs-fuse status` (and its --json object).
type MountStatus struct {
	MountPoint string `json:"mountpoint"`
	FSID       string `json:"fsId"`
	DNSName    string `json:"dnsName"`
	Mode       string `json:"mode"`
	PID        int    `json:"pid"`
	PIDAlive   bool   `json:"pidAlive"`
	Mounted    bool   `json:"mounted"`
	State      string `json:"state"`
	Port       int    `json:"port,omitempty"`
	// Reconnects, Recoveries and LastError are the FUSE-mode NFS session's
	// (fallback mode: the kernel client's, which we cannot see).
	Reconnects    int64      `json:"reconnects"`
	Connections   int        `json:"connections,omitempty"` // FUSE mode: bound to the session now
	Recoveries    int64      `json:"recoveries"`
	LastError     string     `json:"lastError,omitempty"`
	LastErrorTime *time.Time `json:"lastErrorTime,omitempty"`
	MountTime     *time.Time `json:"mountTime,omitempty"`
	StateFile     string     `json:"stateFile"`
	Error         string     `json:"error,omitempty"` // why the state file could not be read
}

// Classify names a mount's state: gone from the mount table, mounted with
// its process gone, mounted with the NFS session disconnected (FUSE mode),
// or healthy.
func Classify(mode string, mounted, pidAlive, connected bool) string {
	switch {
	case !mounted:
		return StateUnmounted
	case !pidAlive:
		return StateDead
	case mode == ModeFUSE && !connected:
		return StateReconnecting
	}
	return StateHealthy
}

// Collect turns state files into statuses, sorted by mount point. ~ files
// (mounts in progress) are left out; unreadable files are listed with
// their error.
func Collect(entries []Entry, table MountTable, alive func(pid int, start uint64) bool) []MountStatus {
	var out []MountStatus
	for _, e := range entries {
		if e.Temp {
			continue
		}
		s := MountStatus{Mode: e.Mode, StateFile: e.Path}
		if e.Err != nil {
			s.State, s.Error = StateUnreadable, e.Err.Error()
			out = append(out, s)
			continue
		}
		s.MountPoint, s.PID = e.MountPoint(), e.PID()
		s.Mounted, s.PIDAlive = table.Has(s.MountPoint, e.Mode), alive(s.PID, e.PIDStart())
		connected := true
		if f := e.FUSE; f != nil {
			s.FSID, s.DNSName = f.FSID, f.DNSName
			s.Reconnects, s.Recoveries, s.LastError = f.Reconnects, f.Recoveries, f.LastError
			s.Connections = f.Connections
			connected = f.Connected
			if t := fromEpoch(f.LastErrorTime); !t.IsZero() && f.LastError != "" {
				s.LastErrorTime = &t
			}
		} else {
			s.FSID, s.DNSName, s.Port = e.Fallback.FSID, e.Fallback.DNSName, e.Fallback.Port
		}
		if t := e.MountTime(); !t.IsZero() {
			s.MountTime = &t
		}
		s.State = Classify(e.Mode, s.Mounted, s.PIDAlive, connected)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MountPoint < out[j].MountPoint })
	return out
}
