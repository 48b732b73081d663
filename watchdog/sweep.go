package watchdog

import (
	"fmt"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// tempMaxAge is how old a ~ state file may be before it is taken for the
// leftover of a mount command that died: a mount takes at most about a
// minute (tunnel start, then three 15 s mount.nfs4 attempts).
const tempMaxAge = time.Minute

// SweepObservation is a state file as found when the watchdog starts.
type SweepObservation struct {
	Now       time.Time
	Mode      string
	Temp      bool
	ModTime   time.Time
	MountTime time.Time
	Mounted   bool
	PIDAlive  bool
}

// DecideSweep says what to reclaim at start: leftovers of crashed mount
// commands (old ~ files, whose tunnels hold ports), tunnels whose mount is
// gone past the grace period (leaked tunnels exhaust the port range), and
// state files whose mount and process are both gone. ActStopTunnel means
// stop the process and remove the files; ActRemoveState just the file.
func DecideSweep(o SweepObservation, p Policy) (Action, string) {
	switch {
	case o.Temp && o.Now.Sub(o.ModTime) > tempMaxAge:
		return ActStopTunnel, fmt.Sprintf("a mount attempt abandoned %v ago", o.Now.Sub(o.ModTime).Round(time.Second))
	case o.Temp:
		return ActNone, ""
	case o.Mode == ModeFallback && !o.Mounted && o.Now.Sub(o.MountTime) >= p.UnmountGrace:
		if o.PIDAlive {
			return ActStopTunnel, "orphaned tunnel: its mount is gone"
		}
		return ActStopTunnel, "stale state file: mount and tunnel are gone"
	case o.Mode == ModeFUSE && !o.Mounted && !o.PIDAlive:
		return ActRemoveState, "stale state file: mount and serving process are gone"
	}
	return ActNone, ""
}

// sweep reclaims what a crash left behind, before any loop starts.
func (w *Watchdog) sweep() {
	entries, err := ListStates(w.o.StateDir)
	if err != nil {
		w.log.Error("listing state files", zap.Error(err))
		return
	}
	table, err := w.mounted()
	if err != nil {
		w.log.Error("startup clean-up skipped", zap.Error(err))
		return
	}
	now := w.o.Now()
	for _, e := range entries {
		if e.Err != nil && !e.Temp {
			continue // reported by the scan loop
		}
		mp := e.MountPoint()
		act, cause := DecideSweep(SweepObservation{
			Now: now, Mode: e.Mode, Temp: e.Temp, ModTime: e.ModTime, MountTime: e.MountTime(),
			Mounted: mp != "" && table.Has(mp, e.Mode), PIDAlive: w.alive(e.PID(), e.PIDStart()),
		}, w.policy)
		if act == ActNone {
			continue
		}
		log := w.log.With(zap.String("state_file", e.Path), zap.String("mount_point", mp), zap.String("cause", cause))
		if act == ActStopTunnel && e.Fallback != nil && e.Fallback.PID > 0 && w.alive(e.Fallback.PID, e.Fallback.PIDStart) {
			if err := signalRecorded(e.Fallback.PID, e.Fallback.PIDStart, unix.SIGTERM); err != nil {
				log.Warn("stopping a leftover tunnel", zap.Error(err))
			}
		}
		var files []string
		if e.Fallback != nil {
			files = e.Fallback.Files
		}
		removeFiles(log, w.o.StateDir, append(append([]string(nil), files...), e.Path))
		log.Info("reclaimed at start", zap.Int("pid", e.PID()))
	}
}
