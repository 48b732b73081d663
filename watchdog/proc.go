package watchdog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// ProcessAlive reports whether pid is a running process. A zombie is dead:
// a tunnel restarted by the watchdog is its child, so the watchdog reaps it
// here (wait4 on a process that is not our child just fails with ECHILD).
func ProcessAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	var ws unix.WaitStatus
	if got, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); got == pid {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && !errors.Is(err, unix.EPERM) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// The state follows the last ')' (the command name may hold any byte).
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
		// It exited after the wait4 above: reap it now if it is our child,
		// or no later call would (a caller stops asking once it is dead).
		_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		return false
	}
	return true
}

// ProcessRuns reports whether the process a state file names runs: pid is
// alive and, when start (its recorded start time) is known, still the
// same process.
func ProcessRuns(pid int, start uint64) bool {
	return ProcessAlive(pid) && (start == 0 || mountstate.SameProcess(pid, start))
}

// reapChild waits, at most d, until pid can be reaped and reaps it, if it
// is a child of ours; it returns at once for any other process (ECHILD).
// ProcessAlive already calls a zombie dead, but a multi-threaded process
// (a Go tunnel) whose leader is a zombie is reapable only once its last
// thread has exited, which can come later; whoever stops watching it then
// must reap it here or it stays a zombie for the watchdog's lifetime.
func reapChild(pid int, d time.Duration) {
	if pid <= 0 {
		return
	}
	for end := time.Now().Add(d); ; time.Sleep(10 * time.Millisecond) {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if got == pid || err != nil || time.Now().After(end) {
			return
		}
	}
}

// signal sends sig to pid; a process already gone is not an error.
func signal(pid int, sig unix.Signal) error {
	if pid <= 0 {
		return fmt.Errorf("signal %v: no process id", sig)
	}
	if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %v to %d: %w", sig, pid, err)
	}
	return nil
}
