package watchdog

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/fallback"
	"github.com/efs-fuse/efs-fuse/internal/fusemount"
)

// Modes, as the state files' "mode" field spells them.
const (
	ModeFUSE   = fusemount.ModeFUSE
	ModeTunnel = fallback.ModeTunnel
)

// tempPrefix marks a tunnel mount still being set up (see fallback).
const tempPrefix = "~"

// Entry is one state file of either mode.
type Entry struct {
	Path   string
	Mode   string
	FUSE   *fusemount.State // Mode == ModeFUSE
	Tunnel *fallback.State  // Mode == ModeTunnel
	Temp   bool             // a ~ file: a tunnel mount in progress or crashed mid-way
	// ModTime of the file (for the age of ~ files).
	ModTime time.Time
	// Err is set for a file that cannot be read; the other fields but
	// Path, Mode and Temp are then empty.
	Err error
}

// PID is the serving (FUSE) or tunnel process.
func (e Entry) PID() int {
	switch {
	case e.FUSE != nil:
		return e.FUSE.PID
	case e.Tunnel != nil:
		return e.Tunnel.PID
	}
	return 0
}

// MountPoint of the entry ("" when unreadable).
func (e Entry) MountPoint() string {
	switch {
	case e.FUSE != nil:
		return e.FUSE.MountPoint
	case e.Tunnel != nil:
		return e.Tunnel.MountPoint
	}
	return ""
}

// MountTime of the entry.
func (e Entry) MountTime() time.Time {
	var t float64
	switch {
	case e.FUSE != nil:
		t = e.FUSE.MountTime
	case e.Tunnel != nil:
		t = e.Tunnel.MountTime
	}
	return fromEpoch(t)
}

// stateMode says which mode a file name belongs to ("" = not a state file:
// tunnel logs, the lock, temporary files).
func stateMode(name string) string {
	base := strings.TrimPrefix(name, tempPrefix)
	if !strings.HasPrefix(base, "fs-") {
		return ""
	}
	if fusemount.IsStateFileName(base) && base == name {
		return ModeFUSE
	}
	i := strings.LastIndexByte(base, '.')
	if i < 0 || i == len(base)-1 {
		return ""
	}
	for _, c := range base[i+1:] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	return ModeTunnel
}

// ListStates reads every state file in dir. Unreadable or malformed files
// come back with Err set, so one bad file never hides the others.
func ListStates(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state directory: %w", err)
	}
	var out []Entry
	for _, de := range des {
		mode := stateMode(de.Name())
		if mode == "" || !de.Type().IsRegular() {
			continue
		}
		e := Entry{Path: filepath.Join(dir, de.Name()), Mode: mode, Temp: strings.HasPrefix(de.Name(), tempPrefix)}
		if fi, err := de.Info(); err == nil {
			e.ModTime = fi.ModTime()
		}
		e = readEntry(e)
		if errors.Is(e.Err, fs.ErrNotExist) {
			continue // removed between ReadDir and now
		}
		out = append(out, e)
	}
	return out, nil
}

// readEntry (re)reads e.Path.
func readEntry(e Entry) Entry {
	e.FUSE, e.Tunnel, e.Err = nil, nil, nil
	if e.Mode == ModeFUSE {
		e.FUSE, e.Err = fusemount.ReadState(e.Path)
		return e
	}
	e.Tunnel, e.Err = fallback.ReadState(e.Path)
	switch {
	case e.Err != nil:
	case e.Tunnel.Mode != ModeTunnel:
		e.Tunnel, e.Err = nil, fmt.Errorf("state file %s has mode %q, want %q", e.Path, e.Tunnel.Mode, ModeTunnel)
	}
	return e
}

// fromEpoch converts a state file's seconds since the epoch. A time that is
// not positive, or too far out for int64 nanoseconds (after 2262), is no
// mount time: it comes back zero rather than wrapped into the past.
func fromEpoch(t float64) time.Time {
	if !(t > 0) || t*1e9 >= math.MaxInt64 {
		return time.Time{}
	}
	return time.Unix(0, int64(t*1e9))
}
