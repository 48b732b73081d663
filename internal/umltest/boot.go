package umltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults of a Job.
const (
	DefaultTimeout = 5 * time.Minute
	DefaultMemMiB  = 1536
)

// GuestDir is where the job's directory appears in the guest (a hostfs
// mount, the one writable host directory).
const GuestDir = "/umltest"

// Job is one guest run: a shell script run as root in the guest.
type Job struct {
	// Script is run with sh in the guest's overlay root, with
	// TMPDIR=/var/tmp (a tmpfs) and the nfs, nfsv4, fuse and loop modules
	// loaded. Its stdout and stderr go to output.log.
	Script string
	// Dir is a host directory (it must exist, and its path have no spaces
	// or commas: it goes on the kernel command line) that receives
	// job.sh, output.log, status and console.log. The guest sees it as
	// GuestDir.
	Dir     string
	Timeout time.Duration // whole run, boot to power-off; 0 = DefaultTimeout
	MemMiB  int           // guest RAM; 0 = DefaultMemMiB
}

// Result is what a guest run left in the job's directory.
type Result struct {
	Status  int    // the script's exit status
	Output  []byte // its stdout and stderr
	Console []byte // the guest kernel's console (boot messages, stage 1 errors)
	Elapsed time.Duration
}

// Boot runs j in a fresh guest and returns once the guest powered off. An
// error means the script did not run to its end (no guest here: wraps
// ErrUnavailable; a timeout; a boot failure, with the console's tail); a
// script that failed is a Result with a non-zero Status.
func Boot(ctx context.Context, j Job) (*Result, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	script, err := Script()
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(j.Dir, " ,\t\n") || !filepath.IsAbs(j.Dir) {
		return nil, fmt.Errorf("guest job directory %q: must be absolute, without spaces or commas", j.Dir)
	}
	if j.Timeout <= 0 {
		j.Timeout = DefaultTimeout
	}
	if j.MemMiB <= 0 {
		j.MemMiB = DefaultMemMiB
	}
	for _, name := range []string{"status", "output.log", "booted"} {
		os.Remove(filepath.Join(j.Dir, name))
	}
	if err := os.WriteFile(filepath.Join(j.Dir, "job.sh"), []byte(j.Script), 0o644); err != nil {
		return nil, fmt.Errorf("writing the guest's job: %w", err)
	}
	console, err := os.Create(filepath.Join(j.Dir, "console.log"))
	if err != nil {
		return nil, fmt.Errorf("guest console log: %w", err)
	}
	defer console.Close()

	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, Kernel,
		"mem="+strconv.Itoa(j.MemMiB)+"M", "ro", "rootfstype=hostfs", "rootflags=/",
		"init="+script, "UMLTEST_OUT="+j.Dir,
		// UML keeps a pid file and a control socket under uml_dir.
		"uml_dir="+j.Dir, "con0=fd:0,fd:1", "con=null", "quiet")
	cmd.Env = append(os.Environ(), "TMPDIR="+memDir)
	cmd.Stdout, cmd.Stderr = console, console
	// UML runs each guest address space as a host process of its own:
	// a timeout kills the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	runErr := cmd.Run()
	res := &Result{Elapsed: time.Since(start)}
	res.Console, _ = os.ReadFile(console.Name())
	res.Output, _ = os.ReadFile(filepath.Join(j.Dir, "output.log"))
	status, statusErr := os.ReadFile(filepath.Join(j.Dir, "status"))
	if statusErr == nil {
		if res.Status, err = strconv.Atoi(strings.TrimSpace(string(status))); err == nil {
			return res, nil
		}
	}
	if bytes.Contains(res.Console, []byte("Unable to mount root fs")) {
		return res, fmt.Errorf("%w: the guest kernel cannot mount the host's root through hostfs:\n%s", ErrUnavailable, tail(res.Console))
	}
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		stage := "its job did not finish"
		if _, err := os.Stat(filepath.Join(j.Dir, "booted")); err != nil {
			stage = "it did not even start its job (boot hung)"
		}
		return res, fmt.Errorf("guest did not finish its job within %v (stopped; %s); console:\n%s\noutput:\n%s", j.Timeout, stage, tail(res.Console), tail(res.Output))
	}
	return res, fmt.Errorf("guest stopped before its job finished (%v); console:\n%s\noutput:\n%s", runErr, tail(res.Console), tail(res.Output))
}

// tail is the end of a log, enough to see why a guest stopped.
func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
