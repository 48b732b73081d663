package watchdog

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// efsFuseBinary builds cmd/efs-fuse once per test run (the build cache
// makes it quick), so the test runs the code under test, not a stale
// bin/efs-fuse.
func efsFuseBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "efs-fuse-watchdog-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "efs-fuse")
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/efs-fuse")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// isolate points the efs-fuse commands this test runs at private state
// and log directories, with a config that keeps them from starting a
// watchdog of their own (the test runs one in-process).
func isolate(t *testing.T) (stateDir, cfgPath string) {
	t.Helper()
	stateDir, logDir := t.TempDir(), t.TempDir()
	t.Setenv("EFS_FUSE_STATE_DIR", stateDir)
	t.Setenv("EFS_FUSE_LOG_DIR", logDir)
	cfgPath = filepath.Join(t.TempDir(), "efs-utils.conf")
	if err := os.WriteFile(cfgPath, []byte("[mount-watchdog]\nenabled = false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"mount.log", "mount-watchdog.log"} {
				if b, err := os.ReadFile(filepath.Join(logDir, f)); err == nil {
					t.Logf("%s:\n%s", f, b)
				}
			}
		}
	})
	return stateDir, cfgPath
}

// observe returns a logger that writes to the test log and records entries.
func observe(t *testing.T) (*observer.ObservedLogs, *zap.Logger) {
	core, logs := observer.New(zapcore.InfoLevel)
	return logs, zap.New(zapcore.NewTee(zaptest.NewLogger(t).Core(), core))
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func readFUSEState(t *testing.T, dir, fsID, mnt string) *mountstate.FUSE {
	st, err := mountstate.ReadFUSE(filepath.Join(dir, mountstate.FUSEFileName(fsID, mnt)))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return st
}

// TestFUSEDaemonKilled mounts the local target with the real binary, kills
// the serving process with SIGKILL and expects the watchdog to lazily
// unmount and remount within 5 s, with a new open working; then a clean
// unmount removes the state file.
func TestFUSEDaemonKilled(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (local target, FUSE mounts)")
	}
	bin := efsFuseBinary(t)
	stateDir, cfgPath := isolate(t)
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	host, port, _ := net.SplitHostPort(tgt.Addr())
	mnt := t.TempDir()
	opts := fmt.Sprintf("tls,cafile=%s,mounttargetip=%s,mounttargetport=%s,region=us-east-1", tgt.CAFile(), host, port)
	if out, err := exec.Command(bin, "-o", opts, "--config", cfgPath, "fs-12345678:/", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if st := readFUSEState(t, stateDir, "fs-12345678", mnt); st != nil {
			_ = unix.Kill(st.PID, unix.SIGKILL)
		}
		_ = unix.Unmount(mnt, unix.MNT_DETACH)
	})
	st := readFUSEState(t, stateDir, "fs-12345678", mnt)
	if st == nil {
		t.Fatal("no state file after the mount returned")
	}
	if st.Mode != ModeFUSE || st.MountPoint != mnt || !ProcessAlive(st.PID) || strings.Contains(strings.Join(st.Cmd, " "), " -f") {
		t.Fatalf("state file: %+v", st)
	}
	if err := os.WriteFile(filepath.Join(mnt, "before"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), mnt+" ") || !strings.Contains(string(out), "healthy") {
		t.Fatalf("efs-fuse status of a healthy mount: %v\n%s", err, out)
	}
	t.Logf("efs-fuse status:\n%s", out)

	// The default config: one poll a second.
	logs, logger := observe(t)
	w, err := Start(Options{StateDir: stateDir, Config: efsconfig.Default().Watchdog, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// Kill at an arbitrary point of the poll cycle, not right after a poll.
	time.Sleep(1300 * time.Millisecond)
	killed := time.Now()
	if err := unix.Kill(st.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var newPID int
	took := waitFor(t, 5*time.Second, "remount after kill -9", func() bool {
		cur := readFUSEState(t, stateDir, "fs-12345678", mnt)
		if cur == nil || cur.PID == st.PID || !ProcessAlive(cur.PID) {
			return false
		}
		newPID = cur.PID
		// A new open on the new mount.
		return os.WriteFile(filepath.Join(mnt, "after"), []byte("y"), 0o644) == nil
	})
	t.Logf("remounted and a new open worked %v after kill -9 (serving pid %d -> %d)", took, st.PID, newPID)
	if b, err := os.ReadFile(filepath.Join(mnt, "before")); err != nil || string(b) != "x" {
		t.Fatalf("file written before the kill: %q, %v", b, err)
	}
	waitFor(t, 5*time.Second, "recovery logged", func() bool { return logs.FilterMessage("mount recovered").Len() > 0 })
	rec := logs.FilterMessage("mount recovered").All()[0].ContextMap()
	t.Logf("watchdog: mount recovered, time_to_recover %v (cause %q); kill -9 to recovery logged: %v",
		rec["time_to_recover"], rec["cause"], time.Since(killed))

	// A statfs probe in flight at that instant makes umount fail with
	// EBUSY, as any other process's access would: retry as a user would.
	for try := 0; try < 5; try++ {
		if out, err = exec.Command(bin, "unmount", mnt).CombinedOutput(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("efs-fuse unmount: %v\n%s", err, out)
	}
	waitFor(t, 10*time.Second, "state file removed after a clean unmount", func() bool {
		return readFUSEState(t, stateDir, "fs-12345678", mnt) == nil
	})
	waitFor(t, 10*time.Second, "serving process exit", func() bool { return !ProcessAlive(newPID) })
}
