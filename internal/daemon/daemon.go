// Package daemon puts a mount in the background the way mount(8) and
// mount.fuse3 expect: the command returns only once the mount answers (exit
// 0) or has failed (exit 1, with the reason on stderr).
//
// Go cannot fork, so the process re-executes itself (/proc/self/exe, same
// arguments) with EnvMarker set. The child starts a new session, points
// stdin/stdout/stderr at /dev/null and reports over a pipe (fd 3): "ready",
// or an error message. The parent waits for that one word and exits.
package daemon

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/efs-fuse/efs-fuse/internal/inheritedfd"
)

// EnvMarker tells a re-executed process that it is the background child
// and which fd carries the report pipe.
const EnvMarker = "EFS_FUSE_DAEMON_FD"

// childFD is the report pipe in the child: the first of exec.Cmd.ExtraFiles.
const childFD = 3

const (
	msgReady = "ready"
	msgError = "error"
)

// ChildError is the background child's own account of why the mount failed.
type ChildError struct {
	Msg string
}

func (e *ChildError) Error() string { return e.Msg }

// Daemonizer re-executes Exe with Args in the background. The zero value is
// not useful; Run uses the running binary and its arguments.
type Daemonizer struct {
	Exe   string   // program to run, normally /proc/self/exe
	Argv0 string   // argv[0] for the child: the name selects behaviour (mount.efs)
	Args  []string // arguments after argv[0]
	Env   []string // environment for the child, before EnvMarker is added
}

// Run runs work in the foreground, or in a detached child when foreground
// is false. work must call ready once the mount answers, then block for as
// long as the mount lives. In the parent, Run returns nil once the child
// called ready, a *ChildError when the child reported a failure, or an
// error when the child died without a word. In the child, Run returns
// work's result.
func Run(foreground bool, work func(ready func()) error) error {
	d := Daemonizer{Exe: "/proc/self/exe", Argv0: os.Args[0], Args: os.Args[1:], Env: os.Environ()}
	return d.Run(foreground, work)
}

// Run is the package-level Run with an explicit program to re-execute.
func (d Daemonizer) Run(foreground bool, work func(ready func()) error) error {
	if IsChild() {
		return runChild(work)
	}
	if foreground {
		return work(func() {})
	}
	return d.startAndWait()
}

// IsChild reports whether this process is a background child.
func IsChild() bool { return os.Getenv(EnvMarker) != "" }

func (d Daemonizer) startAndWait() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("daemonize: create pipe: %w", err)
	}
	defer r.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return fmt.Errorf("daemonize: open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()

	cmd := exec.Command(d.Exe, d.Args...)
	if d.Argv0 != "" {
		cmd.Args[0] = d.Argv0
	}
	cmd.Env = append(withoutMarker(d.Env), fmt.Sprintf("%s=%d", EnvMarker, childFD))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{w}
	// A new session: the mount must outlive the terminal and mount(8).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	w.Close() // only the child may hold the write end, so EOF means it is gone
	if err != nil {
		return fmt.Errorf("daemonize: start background process: %w", err)
	}

	br := bufio.NewReader(io.LimitReader(r, 64<<10))
	first, _ := br.ReadString('\n')
	switch strings.TrimSuffix(first, "\n") {
	case msgReady:
		// The child lives on; nothing to wait for.
		_ = cmd.Process.Release()
		return nil
	case msgError:
		rest, _ := io.ReadAll(br)
		_ = cmd.Wait()
		msg := strings.TrimSpace(string(rest))
		if msg == "" {
			msg = "the background mount process failed without a message"
		}
		return &ChildError{Msg: msg}
	}
	werr := cmd.Wait()
	status := "exited"
	if werr != nil {
		status = werr.Error()
	}
	return fmt.Errorf("the background mount process ended (%s) before the mount was ready; see the log file for details", status)
}

// runChild detaches from the caller's terminal and runs work, reporting the
// outcome over the pipe.
func runChild(work func(ready func()) error) error {
	pipe := os.NewFile(childFD, "daemon-report")
	os.Unsetenv(EnvMarker)
	// Programs the mount starts (fusermount3, a tunnel) must not inherit
	// the pipe: the parent would never see EOF while they live.
	syscall.CloseOnExec(childFD)
	// The serving process lives on after its caller: descriptors the
	// caller leaked (anything without close-on-exec) must not live with it.
	_, _ = inheritedfd.CloseInherited()
	// Arguments were resolved to absolute paths before Run; leaving the
	// caller's directory keeps it from being held busy for the mount's life.
	_ = os.Chdir("/")

	var once sync.Once
	var reported atomic.Bool // ready may come from another goroutine
	report := func(word, msg string) {
		once.Do(func() {
			reported.Store(true)
			if pipe == nil {
				return
			}
			fmt.Fprintf(pipe, "%s\n%s", word, msg)
			pipe.Close()
		})
	}
	err := work(func() { report(msgReady, "") })
	if err != nil {
		report(msgError, err.Error())
		return err
	}
	if !reported.Load() {
		report(msgError, "the mount ended before it was ready")
	}
	return nil
}

func withoutMarker(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, EnvMarker+"=") {
			out = append(out, kv)
		}
	}
	return out
}
