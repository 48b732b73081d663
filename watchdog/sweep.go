package watchdog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	case o.Mode == ModeTunnel && !o.Mounted && o.Now.Sub(o.MountTime) >= p.UnmountGrace:
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
			Mounted: mp != "" && table.Has(mp, e.Mode), PIDAlive: w.o.Alive(e.PID()),
		}, w.policy)
		if act == ActNone {
			continue
		}
		log := w.log.With(zap.String("state_file", e.Path), zap.String("mount_point", mp), zap.String("cause", cause))
		if act == ActStopTunnel && e.Tunnel != nil && e.Tunnel.PID > 0 && w.o.Alive(e.Tunnel.PID) {
			if err := signal(e.Tunnel.PID, unix.SIGTERM); err != nil {
				log.Warn("stopping a leftover tunnel", zap.Error(err))
			}
		}
		var files []string
		if e.Tunnel != nil {
			files = e.Tunnel.Files
		}
		removeFiles(log, append(append([]string(nil), files...), e.Path))
		log.Info("reclaimed at start", zap.Int("pid", e.PID()))
	}
}

// removeFiles removes paths in order: the files a state file lists, then
// the state file itself, last, so that a state file that is gone means its
// files are gone too, and a crash half way leaves the state file listing
// what is left for the next start's sweep. A listed directory (a tunnel's
// certificate directory) goes with the files directly in it; nothing below
// that is touched.
func removeFiles(log *zap.Logger, paths []string) {
	for _, p := range paths {
		err := os.Remove(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			if fi, lerr := os.Lstat(p); lerr == nil && fi.IsDir() {
				err = removeFlatDir(p)
			}
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			log.Warn("removing a file of an unmounted file system", zap.String("file", p), zap.Error(err))
		}
	}
}

// removeFlatDir removes the non-directories in dir, then dir itself (which
// fails if a subdirectory was there).
func removeFlatDir(dir string) error {
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return os.Remove(dir)
}
