package mountstate

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Entry is one state file of either mode.
type Entry struct {
	Path     string
	Mode     string
	FUSE     *FUSE     // Mode == ModeFUSE
	Fallback *Fallback // Mode == ModeFallback
	Temp     bool      // a ~ file: a fallback mount in progress or crashed mid-way
	// ModTime of the file (for the age of ~ files).
	ModTime time.Time
	// Err is set for a file that cannot be read or is refused; the other
	// fields but Path, Mode, Temp and ModTime are then empty.
	Err error
}

// PID is the serving (FUSE) or tunnel (fallback) process.
func (e Entry) PID() int {
	switch {
	case e.FUSE != nil:
		return e.FUSE.PID
	case e.Fallback != nil:
		return e.Fallback.PID
	}
	return 0
}

// PIDStart is the recorded start time of PID (0: not recorded).
func (e Entry) PIDStart() uint64 {
	switch {
	case e.FUSE != nil:
		return e.FUSE.PIDStart
	case e.Fallback != nil:
		return e.Fallback.PIDStart
	}
	return 0
}

// MountPoint of the entry ("" when unreadable).
func (e Entry) MountPoint() string {
	switch {
	case e.FUSE != nil:
		return e.FUSE.MountPoint
	case e.Fallback != nil:
		return e.Fallback.MountPoint
	}
	return ""
}

// MountTime of the entry.
func (e Entry) MountTime() time.Time {
	var t float64
	switch {
	case e.FUSE != nil:
		t = e.FUSE.MountTime
	case e.Fallback != nil:
		t = e.Fallback.MountTime
	}
	return FromEpoch(t)
}

// List reads every state file in dir. Unreadable, refused or malformed
// files come back with Err set, so one bad file never hides the others.
func List(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state directory: %w", err)
	}
	var out []Entry
	for _, de := range des {
		mode, temp := ModeOf(de.Name())
		if mode == "" || de.Type()&fs.ModeDir != 0 {
			continue
		}
		e := Entry{Path: filepath.Join(dir, de.Name()), Mode: mode, Temp: temp}
		if fi, err := de.Info(); err == nil {
			e.ModTime = fi.ModTime()
		}
		e = ReadEntry(e)
		if errors.Is(e.Err, fs.ErrNotExist) {
			continue // removed between ReadDir and now
		}
		out = append(out, e)
	}
	return out, nil
}

// ReadEntry (re)reads e.Path as a state file of e.Mode.
func ReadEntry(e Entry) Entry {
	e.FUSE, e.Fallback, e.Err = nil, nil, nil
	if e.Mode == ModeFUSE {
		e.FUSE, e.Err = ReadFUSE(e.Path)
		return e
	}
	e.Fallback, e.Err = ReadFallback(e.Path)
	return e
}

// FromEpoch converts a state file's seconds since the epoch. A time that
// is not positive, or too far out for int64 nanoseconds (after 2262), is
// no time: it comes back zero rather than wrapped into the past.
func FromEpoch(t float64) time.Time {
	if !(t > 0) || t*1e9 >= math.MaxInt64 {
		return time.Time{}
	}
	return time.Unix(0, int64(t*1e9))
}
