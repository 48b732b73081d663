package watchdog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// LockFileName is the watchdog's pid and lock file in the state directory.
// The flock on it, not the pid inside, decides who runs: a pid can be
// reused, a lock dies with its holder.
const LockFileName = "watchdog.pid"

// ErrRunning says another watchdog holds the lock.
var ErrRunning = errors.New("a watchdog is already running")

// RunningError is ErrRunning with the holder's pid (0 if unreadable).
type RunningError struct{ PID int }

func (e *RunningError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%v (pid %d)", ErrRunning, e.PID)
	}
	return ErrRunning.Error()
}

func (e *RunningError) Is(target error) bool { return target == ErrRunning }

// Lock is a held watchdog lock.
type Lock struct{ f *os.File }

// AcquireLock takes the state directory's watchdog lock without waiting,
// and writes this process's pid into it. It returns a *RunningError when
// another watchdog holds it.
func AcquireLock(stateDir string) (*Lock, error) {
	path := filepath.Join(stateDir, LockFileName)
	f, err := tryLock(path)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open watchdog lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &RunningError{PID: readPID(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// Running reports whether a watchdog holds the state directory's lock
// (and its pid), by trying to take it.
func Running(stateDir string) (bool, int) {
	f, err := tryLock(filepath.Join(stateDir, LockFileName))
	var re *RunningError
	if errors.As(err, &re) {
		return true, re.PID
	}
	if err == nil {
		f.Close()
	}
	return false, 0
}

// Release gives the lock up. The file stays: removing it would let a
// third watchdog lock a new file while a second still holds the old one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
