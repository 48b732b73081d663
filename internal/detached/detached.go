// Package detached starts long-lived helper processes (a fallback mount's
// tunnel) in a session of their own and reaps them without a goroutine
// blocked in Wait. The mount command and the watchdog both start tunnels;
// this package lets the watchdog do so without importing the TLS stack.
package detached

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Process is a started detached process.
type Process interface {
	Pid() int
	// Exited reports (without blocking) whether the process has ended.
	Exited() bool
	// Stop ends the process: SIGTERM, then SIGKILL after a grace period.
	Stop() error
}

// StartFunc starts a process from argv, its stderr appended to logFile.
type StartFunc func(argv []string, logFile string) (Process, error)

// Start starts argv as a detached process: its own session (setsid), so
// the mount command's terminal and signals never reach it and the
// watchdog, not this process, supervises it from then on.
func Start(argv []string, logFile string) (Process, error) {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("start tunnel: %w", err)
	}
	defer devnull.Close()
	stderr := devnull
	if logFile != "" {
		// Early failures (bad flags, port taken) land here before the
		// tunnel's own logger is open.
		f, err := os.OpenFile(logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return nil, fmt.Errorf("start tunnel: %w", err)
		}
		defer f.Close()
		stderr = f
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start tunnel %s: %w", argv[0], err)
	}
	p := &process{pid: cmd.Process.Pid}
	// Reaping is done with wait4 in Exited, never by a goroutine blocked
	// in Wait: once the mount command exits, init adopts the tunnel.
	_ = cmd.Process.Release()
	return p, nil
}

// FromPID is a Process for pid, a child of this process started earlier
// (Stop and Exited reap it).
func FromPID(pid int) Process { return &process{pid: pid} }

type process struct {
	pid    int
	exited bool
}

func (p *process) Pid() int { return p.pid }

func (p *process) Exited() bool {
	if p.exited {
		return true
	}
	var ws unix.WaitStatus
	pid, err := unix.Wait4(p.pid, &ws, unix.WNOHANG, nil)
	if pid == p.pid || errors.Is(err, unix.ECHILD) {
		p.exited = true
	}
	return p.exited
}

// stopGrace is how long a tunnel gets to close its connections.
const stopGrace = 5 * time.Second

func (p *process) Stop() error {
	if p.Exited() {
		return nil
	}
	if err := unix.Kill(p.pid, unix.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("stop tunnel %d: %w", p.pid, err)
	}
	for end := time.Now().Add(stopGrace); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if p.Exited() {
			return nil
		}
	}
	if err := unix.Kill(p.pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill tunnel %d: %w", p.pid, err)
	}
	for end := time.Now().Add(stopGrace); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if p.Exited() {
			return nil
		}
	}
	return fmt.Errorf("tunnel %d did not exit after SIGKILL", p.pid)
}
