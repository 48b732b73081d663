package fusemount

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/statefile"
)

// ModeFUSE is State.Mode for FUSE-mode mounts ("tunnel" is port-based mode).
const ModeFUSE = "fuse"

// stateSuffix ends FUSE-mode state file names. It is not a number, so port
// selection (which treats a name ending in .<port> as a claim) and the
// tunnel-mode reader never take these files for theirs.
const stateSuffix = ".fuse"

// State is a FUSE-mode mount's state file, next to tunnel-mode ones in the
// state directory. The serving process writes it once mounted, refreshes the
// statistics while it serves and removes it on a clean unmount; the watchdog
// and `efs-fuse status` read it.
type State struct {
	// PID is the process serving the mount.
	PID int `json:"pid"`
	// Cmd is the efs-fuse command line that mounts this file system again
	// (in the background: -f/--foreground removed).
	Cmd        []string `json:"cmd"`
	MountPoint string   `json:"mountpoint"`
	FSID       string   `json:"fsId"`
	DNSName    string   `json:"dnsName"`
	// MountTime is seconds since the epoch, as in tunnel-mode state files.
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

// StateFileName is fs-id.<mount point with / as ., leading dots stripped>.fuse,
// e.g. fs-deadbeef.mnt.efs.fuse for /mnt/efs: the tunnel-mode name with
// "fuse" where the port would be.
func StateFileName(fsID, mountPoint string) string {
	mp := strings.TrimLeft(strings.ReplaceAll(filepath.Clean(mountPoint), "/", "."), ".")
	return fsID + "." + mp + stateSuffix
}

// IsStateFileName reports whether name is a FUSE-mode state file's name.
func IsStateFileName(name string) bool {
	return strings.HasPrefix(name, "fs-") && strings.HasSuffix(name, stateSuffix)
}

// WriteState writes s to dir/name atomically (a temporary file renamed over
// it, so readers never see half a file), mode 0600: it holds the command
// line, which can name key and credential files.
func WriteState(dir, name string, s *State) error {
	return statefile.WriteJSON(dir, name, s)
}

// ReadState reads one FUSE-mode state file. A malformed file is an error
// naming it, never a panic.
func ReadState(path string) (*State, error) {
	var s State
	if err := statefile.ReadJSON(path, &s); err != nil {
		return nil, err
	}
	if s.PID <= 0 || s.MountPoint == "" || len(s.Cmd) == 0 || s.Mode != ModeFUSE {
		return nil, fmt.Errorf("state file %s is malformed: it needs pid, cmd, mountpoint and mode %q", path, ModeFUSE)
	}
	if err := statefile.CheckPID(path, s.PID); err != nil {
		return nil, err
	}
	return &s, nil
}

// RemountArgv is the command line that mounts again what args (os.Args
// after argv[0]) mounted, run as exe: the same, minus the foreground flag,
// so the remount puts itself in the background and returns once it
// answers. Values of -o and --config are kept as they are.
func RemountArgv(exe string, args []string) []string {
	out := []string{exe}
	takesValue := map[string]bool{"-o": true, "--options": true, "--config": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case takesValue[a]:
			out = append(out, a)
			if i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			continue
		case a == "--":
			return append(out, args[i:]...)
		case a == "--foreground" || strings.HasPrefix(a, "--foreground="):
			continue
		case isBoolShorthands(a):
			// -f alone or among -n -s -v (e.g. -fv): drop only the f.
			if rest := strings.ReplaceAll(a[1:], "f", ""); rest != "" {
				out = append(out, "-"+rest)
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// isBoolShorthands reports whether a is a group of the mount command's
// boolean short flags (-f -n -s -v), e.g. "-f" or "-nf".
func isBoolShorthands(a string) bool {
	if len(a) < 2 || a[0] != '-' || a[1] == '-' {
		return false
	}
	for _, c := range a[1:] {
		if !strings.ContainsRune("fnsv", c) {
			return false
		}
	}
	return true
}

// epoch converts t to the state files' seconds-since-the-epoch.
func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
