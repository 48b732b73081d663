package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
)

// Child processes: with Config.Exe set (the efs-fuse binary; the command
// sets it), the local target and the fuse path's daemon run as processes
// of their own, as in production, so that each one's CPU and memory can
// be read from its own books: the bench process is then the application
// alone (and the client library on the client paths).

// childTarget is `efs-fuse local-target` run for the bench.
type childTarget struct {
	state                             string // its state directory: the control socket is there
	cmd                               *exec.Cmd
	stderr                            *bytes.Buffer // its log, for the error when it fails
	drain                             sync.WaitGroup
	addr, caFile, serverName, nfsAddr string
}

// startChildTarget starts exe's local target exporting export, its state
// in state, and returns once it prints its addresses.
func startChildTarget(ctx context.Context, exe, export, state string) (*childTarget, error) {
	c := &childTarget{stderr: &bytes.Buffer{}, state: state}
	c.cmd = exec.Command(exe, "local-target", "--export", export, "--state", state, "--listen", "127.0.0.1:0")
	c.cmd.Stderr = &lockedWriter{w: c.stderr}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: local target: %w", err)
	}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start the local target (%s local-target): %w", exe, err)
	}
	lines := bufio.NewScanner(out)
	found := make(chan error, 1)
	c.drain.Add(1)
	go func() { // owned by c; ends when the target closes its stdout (exits)
		defer c.drain.Done()
		found <- c.readAddresses(lines)
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err = <-found:
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(startTimeout):
		err = fmt.Errorf("no addresses printed within %v", startTimeout)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bench: local target: %w; its log:\n%s", err, c.log()), c.close())
	}
	return c, nil
}

// readAddresses reads the banner of `efs-fuse local-target` up to the
// mount command.
func (c *childTarget) readAddresses(lines *bufio.Scanner) error {
	for lines.Scan() {
		l := strings.TrimSpace(lines.Text())
		switch {
		case strings.HasPrefix(l, "Local EFS mount target "):
			c.serverName, _, _ = strings.Cut(strings.TrimPrefix(l, "Local EFS mount target "), " ")
		case strings.HasPrefix(l, "TLS front end:"):
			c.addr = strings.TrimSpace(strings.TrimPrefix(l, "TLS front end:"))
		case strings.HasPrefix(l, "CA file:"):
			c.caFile = strings.TrimSpace(strings.TrimPrefix(l, "CA file:"))
		case strings.HasPrefix(l, "ganesha (plain NFSv4.1, loopback):"):
			c.nfsAddr = strings.TrimSpace(strings.TrimPrefix(l, "ganesha (plain NFSv4.1, loopback):"))
		case l == "Mount it with:":
			if c.addr == "" || c.caFile == "" || c.serverName == "" || c.nfsAddr == "" {
				return errors.New("its banner lacks an address, the CA file or the server name")
			}
			return nil
		}
	}
	return fmt.Errorf("it exited before it was ready (%v)", lines.Err())
}

// calls asks the target for its count of RPC calls relayed (the control
// socket's "calls").
func (c *childTarget) calls() (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := localtarget.SendControl(ctx, c.state, []string{"calls"})
	if err != nil {
		return 0, fmt.Errorf("bench: RPC count of the local target: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(reply), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bench: RPC count of the local target: reply %q: %w", reply, err)
	}
	return n, nil
}

func (c *childTarget) log() string {
	return c.cmd.Stderr.(*lockedWriter).String()
}

// close stops the target (SIGTERM stops its front end and ganesha) and
// waits for it.
func (c *childTarget) close() error {
	return stopChild(c.cmd, &c.drain, "local target")
}

// stopChild sends cmd SIGTERM, waits for it (SIGKILL after
// teardownTimeout) and for the goroutine reading its output.
func stopChild(cmd *exec.Cmd, drain *sync.WaitGroup, what string) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	// The output reader ends when the child (and whatever it started
	// with its stdout) has exited; Wait may only run after it.
	drained := make(chan struct{})
	go func() { drain.Wait(); close(drained) }() // ends with the child: SIGKILL below at the latest
	var err error
	select {
	case <-drained:
	case <-time.After(teardownTimeout):
		_ = cmd.Process.Kill()
		err = fmt.Errorf("did not stop within %v after SIGTERM; killed", teardownTimeout)
		<-drained
	}
	werr := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(werr, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM {
		werr = nil
	}
	err = errors.Join(err, werr)
	if err != nil {
		return fmt.Errorf("bench: %s: %w", what, err)
	}
	return nil
}

// childMount is an efs-fuse daemon run in the foreground for the fuse path.
type childMount struct {
	cmd   *exec.Cmd
	mnt   string
	conf  string // its configuration file, removed by close
	log   *lockedWriter
	drain sync.WaitGroup
}

// benchConfig is the configuration file of the bench's daemon: the
// defaults, but no watchdog, which would outlive the bench supervising
// nothing (a mount the bench unmounts needs no supervisor).
const benchConfig = "[mount-watchdog]\nenabled = false\n"

// startChildMount runs `exe --foreground -o opts device mnt` and returns
// once mnt is a mount. Its configuration file goes next to mnt, as
// mnt + ".conf", and is removed with the mount.
func startChildMount(ctx context.Context, exe, opts, device, mnt string) (*childMount, error) {
	m := &childMount{mnt: mnt}
	conf := mnt + ".conf"
	if err := os.WriteFile(conf, []byte(benchConfig), 0o644); err != nil {
		return nil, fmt.Errorf("bench: fuse path: configuration file: %w", err)
	}
	m.conf = conf
	m.cmd = exec.Command(exe, "--foreground", "--config", conf, "-o", opts, device, mnt)
	log := &lockedWriter{w: &bytes.Buffer{}}
	m.log = log
	m.cmd.Stdout, m.cmd.Stderr = log, log
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: fuse path: start %s: %w", exe, err)
	}
	exited := make(chan struct{})
	m.drain.Add(1)
	go func() { // owned by m: notices an early exit; ends with the child
		defer m.drain.Done()
		_ = m.cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(startTimeout)
	for !isMountPoint(mnt) {
		select {
		case <-exited:
			m.drain.Wait()
			_ = os.Remove(m.conf)
			return nil, fmt.Errorf("bench: fuse path: the daemon exited before mounting: %s", strings.TrimSpace(log.String()))
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), m.close())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("bench: fuse path: %s not mounted within %v", mnt, startTimeout), m.close())
		}
	}
	return m, nil
}

// close unmounts (the foreground daemon then exits) and waits for it.
func (m *childMount) close() error {
	defer os.Remove(m.conf)
	uerr := syscall.Unmount(m.mnt, 0)
	done := make(chan struct{})
	go func() { m.drain.Wait(); close(done) }() // ends with the daemon, killed below at the latest
	select {
	case <-done:
		return nil
	case <-time.After(teardownTimeout):
		// SIGQUIT: the Go runtime prints every goroutine, which says
		// what the daemon was stuck in; the dump is kept in a file.
		_ = m.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = m.cmd.Process.Kill()
			<-done
		}
		_ = syscall.Unmount(m.mnt, syscall.MNT_DETACH)
		dump := m.mnt + ".stuck.log"
		_ = os.WriteFile(dump, []byte(m.log.String()), 0o644)
		return fmt.Errorf("bench: fuse path: the daemon did not exit within %v of unmounting %s (unmount: %v); its goroutines are in %s", teardownTimeout, m.mnt, uerr, dump)
	}
}

// isMountPoint says whether dir is on another device than its parent.
func isMountPoint(dir string) bool {
	var a, b syscall.Stat_t
	if syscall.Stat(dir, &a) != nil || syscall.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}

// lockedWriter is a buffer written by a child's output copier and read
// for error messages.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 4<<20 { // keep the start: the reason is usually there
		return len(p), nil
	}
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}
