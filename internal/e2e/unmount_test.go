package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/watchdog"
)

// rootEnv is what the built efs-fuse needs to mount the local target as
// root without touching the host's /var/log/amazon/efs and /var/run/efs:
// private log and state directories, passed in the environment (mount(8)
// and mount.fuse3 pass it on to their helpers).
type rootEnv struct {
	tgt         *localtarget.Target
	export, mnt string
	state, logs string
	options     string   // -o value pointing at the local target
	env         []string // for every command of the test
}

func newRootEnv(t *testing.T) *rootEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the mount is made as root with mount(2)")
	}
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	e := &rootEnv{tgt: tgt, export: export, mnt: t.TempDir(), state: t.TempDir(), logs: t.TempDir()}
	e.options = "tls,cafile=" + tgt.CAFile() + ",region=us-east-1" + targetOpts(tgt)
	e.env = append(os.Environ(), "EFS_FUSE_STATE_DIR="+e.state, "EFS_FUSE_LOG_DIR="+e.logs)
	// Registered after the target's cleanup, so it runs first: the
	// mount goes before its server does.
	t.Cleanup(func() { e.teardown(t) })
	return e
}

// teardown ends whatever the test left: the mount (lazily, so a hung one
// cannot block), and the watchdog the mount started in our state
// directory (by its pid).
func (e *rootEnv) teardown(t *testing.T) {
	if mounted(t, e.mnt) {
		t.Errorf("%s was still mounted at the end of the test", e.mnt)
		_ = syscall.Unmount(e.mnt, syscall.MNT_DETACH)
	}
	if running, pid := watchdog.Running(e.state); running && pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
}

// cmd runs a command with the test's environment, outside the mount.
func (e *rootEnv) cmd(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(name, args...)
	c.Env, c.Dir = e.env, "/"
	out, err := c.CombinedOutput()
	return string(out), err
}

// servingPID is the pid of the process serving the mount, from the state
// file it writes once mounted.
func (e *rootEnv) servingPID(t *testing.T) int {
	t.Helper()
	st, err := mountstate.ReadFUSE(filepath.Join(e.state, mountstate.FUSEFileName("fs-12345678", e.mnt)))
	if err != nil {
		t.Fatalf("state file of the mount: %v", err)
	}
	return st.PID
}

// log is the mount log the command and its background process wrote.
func (e *rootEnv) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.logs, "mount.log"))
	if err != nil {
		t.Fatalf("mount log: %v", err)
	}
	return string(b)
}

// waitExited waits for pid to end. The serving process is not our child
// (it daemonized), so a zombie waiting for init counts as ended.
func waitExited(t *testing.T, pid int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(b, ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("serving process %d still runs %v after the unmount", pid, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUnmountCommand: data written through the mount and closed (no
// fsync) is on the server after `efs-fuse unmount`, the serving process
// exits, and its log says it unmounted and closed the NFS session without
// a flush error or a failed session teardown.
func TestUnmountCommand(t *testing.T) {
	e := newRootEnv(t)
	if out, err := e.cmd(t, binary, "-o", e.options, "fs-12345678:/", e.mnt); err != nil {
		t.Fatalf("efs-fuse mount: %v\n%s", err, out)
	}
	pid := e.servingPID(t)

	src, want := randomFile(t, 3<<20+123)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.mnt, "unsynced"), data, 0o644); err != nil {
		t.Fatalf("write through the mount: %v", err)
	}
	if out, err := e.cmd(t, binary, "unmount", e.mnt); err != nil {
		t.Fatalf("efs-fuse unmount: %v\n%s", err, out)
	}
	if mounted(t, e.mnt) {
		t.Fatalf("%s is still in /proc/mounts after efs-fuse unmount", e.mnt)
	}
	waitExited(t, pid, 30*time.Second)

	if got := fileSum(t, filepath.Join(e.export, "unsynced")); got != want {
		t.Fatal("the export does not hold what was written before the unmount")
	}
	if _, err := os.Stat(filepath.Join(e.state, mountstate.FUSEFileName("fs-12345678", e.mnt))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after a clean unmount: %v, want it removed", err)
	}
	log := e.log(t)
	for _, want := range []string{"Successfully mounted ", "unmounted; closing the NFS session", "NFS session destroyed"} {
		if !strings.Contains(log, want) {
			t.Errorf("mount log lacks %q:\n%s", want, log)
		}
	}
	for _, l := range strings.Split(log, "\n") {
		// A failed session teardown logs "closing the NFS session"
		// alone; a flush error rides on the unmount line.
		failed := strings.Contains(l, "closing the NFS session") && !strings.Contains(l, "unmounted; closing the NFS session")
		if failed || strings.Contains(l, "flush_error") || strings.Contains(l, " - ERROR - ") {
			t.Errorf("mount log line after a clean unmount: %s", l)
		}
	}
}
