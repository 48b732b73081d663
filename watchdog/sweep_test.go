package watchdog

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// sleeper is a stand-in tunnel process.
func sleeper(t *testing.T) *exec.Cmd {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestStartSweepAndBadFiles: at start the watchdog stops an orphaned
// tunnel (mount gone past the grace) and an abandoned ~ mount attempt's
// tunnel, removes a crashed FUSE mount's state file, and reports a
// malformed state file without stopping.
func TestStartSweepAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	long := float64(time.Now().Add(-time.Hour).UnixNano()) / 1e9
	orphan, abandoned := sleeper(t), sleeper(t)
	write := func(name string, st *mountstate.Fallback) string {
		if err := mountstate.Write(dir, name, st); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, name)
	}
	extra := filepath.Join(dir, "orphan.log")
	if err := os.WriteFile(extra, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	orphanPath := write("fs-1.mnt.a.20100", &mountstate.Fallback{PID: orphan.Process.Pid, PIDStart: startOf(t, orphan.Process.Pid), Cmd: []string{"x"}, MountPoint: "/mnt/a",
		FSID: "fs-1", Mode: mountstate.ModeFallback, Port: 20100, MountTime: long, Files: []string{extra}})
	tempPath := write("~fs-1.mnt.b.20101", &mountstate.Fallback{PID: abandoned.Process.Pid, PIDStart: startOf(t, abandoned.Process.Pid), Cmd: []string{"x"}, MountPoint: "/mnt/b",
		FSID: "fs-1", Mode: mountstate.ModeFallback, Port: 20101, MountTime: long})
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(tempPath, old, old); err != nil {
		t.Fatal(err)
	}
	fuseName := mountstate.FUSEFileName("fs-1", "/mnt/c")
	if err := mountstate.Write(dir, fuseName, &mountstate.FUSE{PID: 999999999, Cmd: []string{"x"}, MountPoint: "/mnt/c",
		FSID: "fs-1", Mode: mountstate.ModeFUSE, MountTime: long}); err != nil {
		t.Fatal(err)
	}
	badPath := filepath.Join(dir, "fs-2.mnt.d.fuse")
	if err := os.WriteFile(badPath, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}

	logs, logger := observe(t)
	w, err := Start(Options{StateDir: dir, Config: efsconfig.Default().Watchdog, Logger: logger, PollInterval: 50 * time.Millisecond,
		MountInfo: func() (string, error) { return "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range []string{orphanPath, tempPath, extra, filepath.Join(dir, fuseName)} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s not removed at start: %v", p, err)
		}
	}
	for _, c := range []*exec.Cmd{orphan, abandoned} {
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Errorf("leftover tunnel %d not stopped", c.Process.Pid)
		}
	}
	waitFor(t, 2*time.Second, "malformed file reported", func() bool { return logs.FilterMessage("skipping a state file").Len() > 0 })
	time.Sleep(200 * time.Millisecond) // several scans: reported once, still there
	if n := logs.FilterMessage("skipping a state file").Len(); n != 1 {
		t.Errorf("malformed file reported %d times, want once", n)
	}
	if _, err := os.Stat(badPath); err != nil {
		t.Errorf("malformed file should be left for a person to look at: %v", err)
	}
}

// startOf is pid's start time, as a mount records it in its state file.
func startOf(t *testing.T, pid int) uint64 {
	t.Helper()
	start, err := mountstate.ProcessStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	return start
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := AcquireLock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if running, pid := Running(dir); !running || pid != os.Getpid() {
		t.Fatalf("Running = %v, %d", running, pid)
	}
	_, err = AcquireLock(dir)
	var re *RunningError
	if !errors.Is(err, ErrRunning) || !errors.As(err, &re) || re.PID != os.Getpid() {
		t.Fatalf("second lock: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Release()
}

func TestStateFileNames(t *testing.T) {
	for name, want := range map[string]string{
		"fs-1.mnt.efs.20407": ModeFallback, "~fs-1.mnt.efs.20407": ModeFallback, "fs-1.mnt.efs.fuse": ModeFUSE,
		"~fs-1.mnt.efs.fuse": "", "fs-1.mnt.efs.20407.tunnel.log": "", "watchdog.pid": "", ".tmp-state-1": "",
		"fs-1.mnt.efs.": "",
	} {
		if got, _ := mountstate.ModeOf(name); got != want {
			t.Errorf("ModeOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestParseMountInfo(t *testing.T) {
	tab := ParseMountInfo("36 35 98:0 / /mnt/a\\040b rw - fuse.efs fs-1:/ rw\n90 22 0:50 / /mnt/n rw - nfs4 127.0.0.1:/ rw\ngarbage\n")
	if !tab.Has("/mnt/a b", ModeFUSE) || tab.Has("/mnt/a b", ModeFallback) || !tab.Has("/mnt/n/", ModeFallback) || tab.Has("/mnt/x", ModeFUSE) {
		t.Fatalf("table %v", tab)
	}
}
