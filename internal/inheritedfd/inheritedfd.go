// Package inheritedfd keeps file descriptors from leaking across exec.
//
// Go opens every descriptor with O_CLOEXEC, so in a Go process a descriptor
// without FD_CLOEXEC was either inherited from whoever started it or opened
// by a library that skipped the flag (go-fuse's direct mount opens
// /dev/fuse that way). A leaked /dev/fuse descriptor is dangerous: the
// kernel aborts a FUSE connection only when its last descriptor closes, so
// a supervisor that inherited one keeps a crashed mount's requests waiting
// forever instead of failing them at once.
package inheritedfd

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// fdDir lists this process's descriptors.
const fdDir = "/proc/self/fd"

// CloseInherited closes every descriptor above 2 that lacks FD_CLOEXEC:
// in a process that has just started, those came from its parent. Call it
// first thing in a long-lived process (the watchdog) that must hold only
// what it opened itself. It returns the descriptors it closed.
func CloseInherited() ([]int, error) {
	fds, err := list()
	if err != nil {
		return nil, err
	}
	var closed []int
	for _, fd := range fds {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue // gone meanwhile (the directory's own fd), or ours
		}
		if err := unix.Close(fd); err == nil {
			closed = append(closed, fd)
		}
	}
	return closed, nil
}

// CloseOnExec sets FD_CLOEXEC on every descriptor above 2 whose target
// (as /proc/self/fd shows it) is target, e.g. "/dev/fuse". It returns how
// many it found.
func CloseOnExec(target string) (int, error) {
	fds, err := list()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, fd := range fds {
		if link, err := os.Readlink(fdDir + "/" + strconv.Itoa(fd)); err != nil || link != target {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return n, fmt.Errorf("set close-on-exec on %s (fd %d): %w", target, fd, err)
		}
		n++
	}
	return n, nil
}

// list returns the open descriptors above 2.
func list() ([]int, error) {
	des, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, fmt.Errorf("list open file descriptors: %w", err)
	}
	var fds []int
	for _, de := range des {
		if fd, err := strconv.Atoi(de.Name()); err == nil && fd > 2 {
			fds = append(fds, fd)
		}
	}
	return fds, nil
}
