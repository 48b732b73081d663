package watchdog

import (
	"time"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// Modes, as the state files' "mode" field spells them.
const (
	ModeFUSE     = mountstate.ModeFUSE
	ModeFallback = mountstate.ModeFallback
)

// Entry is one state file of either mode.
type Entry = mountstate.Entry

// ListStates reads every state file in dir. Unreadable, refused or
// malformed files come back with Err set, so one bad file never hides the
// others.
func ListStates(dir string) ([]Entry, error) { return mountstate.List(dir) }

// readEntry (re)reads e.Path.
func readEntry(e Entry) Entry { return mountstate.ReadEntry(e) }

// fromEpoch converts a state file's seconds since the epoch (zero when it
// is no time).
func fromEpoch(t float64) time.Time { return mountstate.FromEpoch(t) }
