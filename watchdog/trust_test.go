package watchdog

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// TestCraftedStateFiles: state files that name a process the mount never
// started, or files outside the state directory, or that someone else
// could have written, make the watchdog neither signal nor delete
// anything outside what it owns. Each stands for an attack found by hand:
// a crafted file made the watchdog SIGTERM an unrelated process and
// delete a file outside its directories.
func TestCraftedStateFiles(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := float64(time.Now().Add(-time.Hour).UnixNano()) / 1e9
	victims := map[string]*exec.Cmd{}
	write := func(name string, st *mountstate.Fallback, perm os.FileMode) {
		t.Helper()
		if err := mountstate.Write(dir, name, st); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), perm); err != nil {
			t.Fatal(err)
		}
	}
	tunnel := func(pid int, start uint64, files ...string) *mountstate.Fallback {
		return &mountstate.Fallback{PID: pid, PIDStart: start, Cmd: []string{"x"}, MountPoint: "/mnt/gone", FSID: "fs-1",
			Mode: mountstate.ModeFallback, Port: 20100, MountTime: long, Files: files}
	}
	// An unrelated process named with no start time, or a wrong one (a
	// pid reused since the mount): its mount is gone past the grace, so
	// the watchdog stops "the tunnel" and removes the files.
	victims["no start time"] = sleeper(t)
	write("fs-1.mnt.a.20100", tunnel(victims["no start time"].Process.Pid, 0, outside), 0o600)
	victims["wrong start time"] = sleeper(t)
	write("fs-1.mnt.b.20101", tunnel(victims["wrong start time"].Process.Pid, startOf(t, victims["wrong start time"].Process.Pid)+1,
		filepath.Join(dir, "..", filepath.Base(filepath.Dir(outside)), "precious")), 0o600)
	// Files anyone in the group or anyone at all could have written.
	victims["group writable"] = sleeper(t)
	write("fs-1.mnt.c.20102", tunnel(victims["group writable"].Process.Pid, startOf(t, victims["group writable"].Process.Pid), outside), 0o620)
	victims["world writable"] = sleeper(t)
	write("fs-1.mnt.d.20103", tunnel(victims["world writable"].Process.Pid, startOf(t, victims["world writable"].Process.Pid), outside), 0o602)
	// A state file that is a link to a file elsewhere.
	victims["symlink"] = sleeper(t)
	linked := filepath.Join(t.TempDir(), "state")
	if err := mountstate.Write(filepath.Dir(linked), "state", tunnel(victims["symlink"].Process.Pid, startOf(t, victims["symlink"].Process.Pid), outside)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(linked, filepath.Join(dir, "fs-1.mnt.e.20104")); err != nil {
		t.Fatal(err)
	}
	// One owned by another user (root only: chown).
	if os.Geteuid() == 0 {
		victims["other owner"] = sleeper(t)
		write("fs-1.mnt.f.20105", tunnel(victims["other owner"].Process.Pid, startOf(t, victims["other owner"].Process.Pid), outside), 0o600)
		if err := os.Chown(filepath.Join(dir, "fs-1.mnt.f.20105"), 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}

	logs, logger := observe(t)
	w, err := Start(Options{StateDir: dir, Config: efsconfig.Default().Watchdog, Logger: logger, PollInterval: 50 * time.Millisecond,
		MountInfo: func() (string, error) { return "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", nil }})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the start sweep and several polls
	w.Close()
	for what, c := range victims {
		if !ProcessAlive(c.Process.Pid) {
			t.Errorf("%s: the watchdog ended unrelated process %d", what, c.Process.Pid)
		}
	}
	if b, err := os.ReadFile(outside); err != nil || string(b) != "keep" {
		t.Errorf("a file outside the state directory was touched: %q, %v", b, err)
	}
	if _, err := os.Stat(linked); err != nil {
		t.Errorf("the file a symbolic link in the state directory points to was touched: %v", err)
	}
	skipped := map[string]bool{}
	for _, e := range logs.FilterMessage("skipping a state file").All() {
		skipped[filepath.Base(e.ContextMap()["state_file"].(string))] = true
	}
	for _, name := range []string{"fs-1.mnt.c.20102", "fs-1.mnt.d.20103", "fs-1.mnt.e.20104"} {
		if !skipped[name] {
			t.Errorf("%s was not refused (skipped files: %v)", name, skipped)
		}
	}
	if os.Geteuid() == 0 && !skipped["fs-1.mnt.f.20105"] {
		t.Errorf("a state file of another owner was not refused (skipped files: %v)", skipped)
	}
	if n := logs.FilterMessage("not removing a file outside the state directory").Len(); n < 2 {
		t.Errorf("%d refusals to remove a file outside the state directory logged, want one per crafted file", n)
	}
}

// TestRemoveFilesOnlyInStateDir: only entries directly in the state
// directory are removed, whatever spelling a listed path uses.
func TestRemoveFilesOnlyInStateDir(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	keep := filepath.Join(other, "keep")
	mine := filepath.Join(dir, "fs-1.mnt.a.20100.tunnel.log")
	for _, f := range []string{keep, mine} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sneaky := filepath.Join(dir, "..", filepath.Base(other), "keep")
	removeFiles(zap.NewNop(), dir, []string{keep, sneaky, "relative", strings.TrimPrefix(mine, "/"), mine})
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("file outside the state directory removed: %v", err)
	}
	if _, err := os.Stat(mine); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file in the state directory not removed: %v", err)
	}
}
