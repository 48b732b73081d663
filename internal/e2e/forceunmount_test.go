package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

// TestForceUnmountDeadServer: with the server black-holed (and the
// client's lease renewal hanging on it), `efs-fuse unmount --force`
// returns at once, the mount point leaves the mount table, and the serving
// process exits within its bound, cleanly, removing its state file.
//
// The bound: once the kernel lets go, the serving process commits and
// closes what is left (fusefs unmountTimeout, 30 s; instant here, nothing
// is open or dirty), then destroys the NFS session (fusemount
// teardownTimeout, 10 s). A RELEASE still being served when the server
// died adds up to fusefs releaseTimeout (1 min) before that: go-fuse waits
// for every request in progress. The test lets its file's RELEASE finish
// first, so it checks the 40 s bound.
func TestForceUnmountDeadServer(t *testing.T) {
	const bound = 30*time.Second + 10*time.Second
	tgt := testtarget.Start(t)
	m := startBinMount(t, tgt)
	p := filepath.Join(m.mnt, "f")
	if err := os.WriteFile(p, []byte("written before the server died"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The kernel sends the file's RELEASE after close returns; let its
	// COMMIT and CLOSE reach the server first.
	time.Sleep(2 * time.Second)
	tgt.Blackhole(2 * time.Minute)
	defer tgt.Heal()
	// Long enough for a lease renewal to be stuck on the dead server.
	time.Sleep(5 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, binary, "unmount", "--force", m.mnt).CombinedOutput()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("efs-fuse unmount --force on a dead server: %v after %v\n%s", err, took, out)
	}
	if took > 5*time.Second {
		t.Fatalf("efs-fuse unmount --force took %v on a dead server", took)
	}
	if mounted(t, m.mnt) {
		t.Fatalf("%s is still in /proc/self/mountinfo after unmount --force", m.mnt)
	}
	select {
	case <-m.exited:
	case <-time.After(bound):
		t.Fatalf("the serving process is still running %v after unmount --force (bound %v)\n%s", time.Since(start), bound, m.log(t))
	}
	t.Logf("unmount --force returned in %v; the serving process exited %v after it", took, m.exitedAt.Sub(start))
	if m.err != nil {
		t.Errorf("the serving process failed: %v\n%s", m.err, m.log(t))
	}
	if left, _ := filepath.Glob(filepath.Join(m.stateDir, "*")); len(left) > 0 {
		t.Errorf("state files left after the serving process exited: %v", left)
	}
}

// binMount is a mount made by the efs-fuse binary in the foreground, a
// serving process of its own as in production, so the test process may
// hold files of the mount open while it starts processes. The watchdog is
// off; state and logs go to the test's directories.
type binMount struct {
	cmd      *exec.Cmd
	mnt      string
	logDir   string
	stateDir string
	exited   chan struct{} // closed once the serving process has exited
	exitedAt time.Time     // valid once exited is closed
	err      error         // its exit status, valid once exited is closed
}

// startBinMount mounts tgt's export with the binary and returns once the
// mount is in the mount table. Cleanup stops the process (SIGTERM: an
// orderly unmount) and makes sure nothing stays mounted.
func startBinMount(t *testing.T, tgt *localtarget.Target) *binMount {
	t.Helper()
	dir := t.TempDir()
	m := &binMount{mnt: filepath.Join(dir, "mnt"), logDir: filepath.Join(dir, "log"), stateDir: filepath.Join(dir, "state"), exited: make(chan struct{})}
	conf := filepath.Join(dir, "efs-fuse.conf")
	if err := os.WriteFile(conf, []byte("[mount-watchdog]\nenabled = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(m.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := "tls,cafile=" + tgt.CAFile() + ",region=us-east-1" + targetOpts(tgt)
	m.cmd = exec.Command(binary, "-f", "--config", conf, "-o", opts, "fs-12345678:/", m.mnt)
	m.cmd.Env = append(os.Environ(), "EFS_FUSE_STATE_DIR="+m.stateDir, "EFS_FUSE_LOG_DIR="+m.logDir)
	m.cmd.Stdout, m.cmd.Stderr = os.Stderr, os.Stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		m.err = m.cmd.Wait()
		m.exitedAt = time.Now()
		close(m.exited)
	}()
	t.Cleanup(func() { m.stop(t) })
	for deadline := time.Now().Add(30 * time.Second); !mounted(t, m.mnt); time.Sleep(50 * time.Millisecond) {
		select {
		case <-m.exited:
			t.Fatalf("efs-fuse mount exited: %v\n%s", m.err, m.log(t))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("efs-fuse did not mount within 30 s\n%s", m.log(t))
		}
	}
	return m
}

// stop ends the serving process (SIGTERM, then SIGKILL after a minute)
// and detaches the mount if it is still there.
func (m *binMount) stop(t *testing.T) {
	select {
	case <-m.exited:
	default:
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.exited:
		case <-time.After(time.Minute):
			t.Errorf("efs-fuse did not exit within a minute of SIGTERM; killing it")
			_ = m.cmd.Process.Kill()
			<-m.exited
		}
	}
	if mounted(t, m.mnt) {
		_ = syscall.Unmount(m.mnt, syscall.MNT_DETACH)
	}
}

// log returns the serving process's log file.
func (m *binMount) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(m.logDir, "mount.log"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("read the mount log: %v", err)
	}
	return string(b)
}
