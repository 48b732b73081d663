package fallback

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/efs-fuse/efs-fuse/internal/statefile"
)

// tempPrefix marks a state file being set up: it claims its port while the
// mount is in progress and is renamed to the final name once mounted.
const tempPrefix = "~"

// ModeTunnel is State.Mode for port-based mounts.
const ModeTunnel = "tunnel"

// State is a tunnel mount's state file, the helper's fields plus ours. The
// watchdog reads it to supervise the tunnel: restart Cmd when PID is gone,
// stop PID once MountPoint is unmounted, delete Files with it.
type State struct {
	// PID is the tunnel process (0 in a ~ file before the tunnel started).
	PID int `json:"pid"`
	// Cmd is the tunnel's argv; running it again restarts the tunnel on the
	// same port with the same verification.
	Cmd []string `json:"cmd"`
	// Files are other files that belong to this mount (tunnel log, the
	// directory of the certificate made for it) and go with the state file.
	Files []string `json:"files"`
	// MountTime is seconds since the epoch, as the helper's time.time().
	MountTime  float64 `json:"mount_time"`
	MountPoint string  `json:"mountpoint"`
	FSID       string  `json:"fsId"`
	Region     string  `json:"region,omitempty"`
	// Ours: how the mount is reached and served.
	Mode    string `json:"mode"`
	DNSName string `json:"dnsName"`
	Port    int    `json:"port"`
	// The client certificate the tunnel presents, which it makes, renews
	// and writes here itself (in a directory listed in Files), and the key
	// it is made with ("" = none).
	Certificate string `json:"certificate,omitempty"`
	PrivateKey  string `json:"privateKey,omitempty"`
	AccessPoint string `json:"accessPoint,omitempty"`
	UseIAM      bool   `json:"useIam,omitempty"`
}

// StateFileName is the helper's name for a mount's state file:
// fs-id.<mount point with / as ., leading dots stripped>.<port>, e.g.
// fs-deadbeef.mnt.efs.20407 for /mnt/efs.
func StateFileName(fsID, mountPoint string, port int) string {
	mp := strings.TrimLeft(strings.ReplaceAll(filepath.Clean(mountPoint), "/", "."), ".")
	return fmt.Sprintf("%s.%s.%d", fsID, mp, port)
}

// WriteState writes s to dir/name atomically (a temporary file renamed over
// it), mode 0600: it names key files and the command that runs the tunnel.
func WriteState(dir, name string, s *State) error {
	return statefile.WriteJSON(dir, name, s)
}

// ReadState reads one state file. A malformed file is an error naming it.
func ReadState(path string) (*State, error) {
	var s State
	if err := statefile.ReadJSON(path, &s); err != nil {
		return nil, err
	}
	if s.PID < 0 || s.MountPoint == "" || len(s.Cmd) == 0 {
		return nil, fmt.Errorf("state file %s is malformed: it needs pid, cmd and mountpoint", path)
	}
	if err := statefile.CheckPID(path, s.PID); err != nil {
		return nil, err
	}
	return &s, nil
}

// StateEntry is a state file found by ListStates.
type StateEntry struct {
	Path  string
	State *State // nil when Err is set
	Err   error
	Temp  bool // a ~ file: a mount in progress (or one that crashed mid-way)
}

// ListStates reads every tunnel state file in dir (for the watchdog). Files
// of other modes are skipped; malformed ones are returned with Err set, so
// one bad file does not hide the others.
func ListStates(dir string) ([]StateEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state directory: %w", err)
	}
	var out []StateEntry
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !isStateFileName(strings.TrimPrefix(name, tempPrefix)) {
			continue
		}
		path := filepath.Join(dir, name)
		s, err := ReadState(path)
		if err == nil && s.Mode != ModeTunnel {
			continue
		}
		out = append(out, StateEntry{Path: path, State: s, Err: err, Temp: strings.HasPrefix(name, tempPrefix)})
	}
	return out, nil
}

// isStateFileName: fs-<id>.<mount point>.<port>, which the tunnel's log
// (<state file name>.tunnel.log, in the state directory by default) is not.
func isStateFileName(name string) bool {
	i := strings.LastIndexByte(name, '.')
	if !strings.HasPrefix(name, "fs-") || i < 0 || i == len(name)-1 {
		return false
	}
	_, err := strconv.Atoi(name[i+1:])
	return err == nil
}
