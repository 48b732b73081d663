package watchdog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// The watchdog acts on what a state file says: it signals the pid and
// deletes the files listed. A state file is refused unless this user
// wrote it (mountstate.Read); and even then the pid must still be the
// process that was recorded (its start time), and the files must be in
// the state directory: a stale or crafted file must never make the
// watchdog signal an unrelated process or delete someone else's file.

// alive reports whether the process a state file names runs: the pid is
// alive and, when the file recorded its start time, has that start time
// (a pid the kernel reused for another process means ours is gone).
func (w *Watchdog) alive(pid int, start uint64) bool {
	if !w.o.Alive(pid) {
		return false
	}
	return start == 0 || w.o.SameProcess(pid, start)
}

// signalRecorded sends sig to pid only if it is the process the state
// file recorded. The pid is pinned with a pidfd first, so it cannot be
// reused between the check and the signal. A file without a start time
// (written by an older efs-fuse) is never acted on this way.
func signalRecorded(pid int, start uint64, sig unix.Signal) error {
	if pid <= 0 {
		return fmt.Errorf("signal %v: no process id", sig)
	}
	if start == 0 {
		return fmt.Errorf("not sending %v to pid %d: the state file does not record the process's start time, so it cannot be told from another process with the same pid", sig, pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil // already gone
	}
	if err != nil {
		return fmt.Errorf("signal %v to %d: %w", sig, pid, err)
	}
	defer unix.Close(fd)
	if got, err := mountstate.ProcessStart(pid); err != nil || got != start {
		return fmt.Errorf("not sending %v to pid %d: it is not the process the state file names (started at tick %d, recorded %d)", sig, pid, got, start)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %v to %d: %w", sig, pid, err)
	}
	return nil
}

// removeFiles removes paths in order: the files a state file lists, then
// the state file itself, last, so that a state file that is gone means its
// files are gone too, and a crash half way leaves the state file listing
// what is left for the next start's sweep. Only paths directly in stateDir
// are touched (a listed file elsewhere is logged and left); a listed
// directory (a tunnel's certificate directory) goes with the files
// directly in it, nothing below that.
func removeFiles(log *zap.Logger, stateDir string, paths []string) {
	for _, p := range paths {
		if !inDir(stateDir, p) {
			log.Warn("not removing a file outside the state directory", zap.String("file", p), zap.String("state_dir", stateDir))
			continue
		}
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

// inDir reports whether p names an entry directly in dir (after cleaning
// both, so "dir/../x" is not in dir).
func inDir(dir, p string) bool {
	if !filepath.IsAbs(p) || dir == "" {
		return false
	}
	p = filepath.Clean(p)
	return filepath.Dir(p) == filepath.Clean(dir) && filepath.Base(p) != ".."
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
