package daemon_test

import (
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/daemon"
)

// The test binary doubles as the program being daemonized: with
// DAEMON_TEST_MODE set, TestMain acts as a tiny mount command.
func TestMain(m *testing.M) {
	if mode := os.Getenv("DAEMON_TEST_MODE"); mode != "" {
		os.Exit(helper(mode, os.Getenv("DAEMON_TEST_DIR")))
	}
	os.Exit(m.Run())
}

func helper(mode, dir string) int {
	err := daemon.Run(mode == "foreground", func(ready func()) error {
		switch mode {
		case "ready", "foreground":
			stdin, _ := os.Readlink("/proc/self/fd/0")
			sid, _ := unix.Getsid(0)
			info := fmt.Sprintf("%d %d %s %t %s", os.Getpid(), sid, stdin, daemon.IsChild(), filepath.Base(os.Args[0]))
			if err := os.WriteFile(filepath.Join(dir, "info"), []byte(info), 0o644); err != nil {
				return err
			}
			ready()
			if mode == "ready" {
				// Live on after the parent has gone, like a mount.
				waitFor(filepath.Join(dir, "release"), 10*time.Second)
				_ = os.WriteFile(filepath.Join(dir, "done"), nil, 0o644)
			}
			return nil
		case "error":
			return errors.New("mount failed: connection refused")
		case "silent":
			os.Exit(7)
		case "noready":
			return nil
		}
		return fmt.Errorf("unknown mode %s", mode)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func waitFor(path string, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	return false
}

func runHelper(t *testing.T, mode string) (dir, stderr string, code int) {
	t.Helper()
	dir = t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DAEMON_TEST_MODE="+mode, "DAEMON_TEST_DIR="+dir)
	var errb strings.Builder
	cmd.Stderr = &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("parent did not exit")
	}
	return dir, errb.String(), code
}

func TestReadyDetachesAndExitsZero(t *testing.T) {
	dir, stderr, code := runHelper(t, "ready")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	// The parent returned while the child still waits for "release".
	if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
		t.Error("parent waited for the child to finish")
	}
	b, err := os.ReadFile(filepath.Join(dir, "info"))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) != 5 {
		t.Fatalf("info %q", b)
	}
	if f[4] != filepath.Base(os.Args[0]) {
		t.Errorf("child argv[0] = %s, want the parent's %s", f[4], filepath.Base(os.Args[0]))
	}
	pid, _ := strconv.Atoi(f[0])
	sid, _ := strconv.Atoi(f[1])
	if pid != sid {
		t.Errorf("child pid %d is not a session leader (sid %d)", pid, sid)
	}
	if f[2] != os.DevNull {
		t.Errorf("child stdin = %s, want %s", f[2], os.DevNull)
	}
	if f[3] != "false" {
		t.Error("marker left in the child's environment")
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if !waitFor(filepath.Join(dir, "done"), 10*time.Second) {
		t.Error("child did not run on after the parent exited")
	}
}

func TestChildErrorIsReported(t *testing.T) {
	_, stderr, code := runHelper(t, "error")
	if code != 1 || strings.TrimSpace(stderr) != "mount failed: connection refused" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestChildDiesSilently(t *testing.T) {
	_, stderr, code := runHelper(t, "silent")
	if code != 1 || !strings.Contains(stderr, "before the mount was ready") || !strings.Contains(stderr, "exit status 7") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestChildReturnsWithoutReady(t *testing.T) {
	_, stderr, code := runHelper(t, "noready")
	if code != 1 || strings.TrimSpace(stderr) != "the mount ended before it was ready" {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestForegroundRunsInProcess(t *testing.T) {
	dir, stderr, code := runHelper(t, "foreground")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "info"))
	// exec gives the helper /dev/null as stdin anyway; the session tells.
	if f := strings.Fields(string(b)); len(f) != 5 || f[0] == f[1] {
		t.Errorf("foreground ran detached: %q", b)
	}
}

func TestDaemonizerStartFailure(t *testing.T) {
	d := daemon.Daemonizer{Exe: filepath.Join(t.TempDir(), "missing")}
	err := d.Run(false, func(func()) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "start background process") {
		t.Errorf("err = %v", err)
	}
}
