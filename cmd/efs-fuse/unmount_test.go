package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestUnmountUsage: `efs-fuse unmount` alone shows how to call it.
func TestUnmountUsage(t *testing.T) {
	h := newHarness(t)
	if code := run(context.Background(), []string{"efs-fuse", "unmount"}, h.deps); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	got := h.stderr.String()
	if !strings.HasPrefix(got, "Usage:\n  efs-fuse unmount [--force] MOUNTPOINT\n") || !strings.Contains(got, "--force") {
		t.Errorf("stderr is not the usage:\n%s", got)
	}
}

// TestUnmountErrorWording: an unprivileged unmount fails with
// fusermount3's own reason, on one line, with no Go slice or exit status.
func TestUnmountErrorWording(t *testing.T) {
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Skip("fusermount3 is not installed (apt-get install fuse3)")
	}
	dir := t.TempDir()
	// As a user would: through fusermount3 (which, run by root here,
	// says "failed to unmount"; a user reads "entry for ... not found").
	err := runUnmount(&unmountOptions{MountPoint: dir}, 1000)
	prefix := "unmount " + dir + ": fusermount3: "
	if err == nil || !strings.HasPrefix(err.Error(), prefix) || strings.ContainsAny(err.Error(), "[]\n") ||
		strings.Contains(err.Error(), "exit status") {
		t.Errorf("err = %q, want %q and fusermount3's reason, on one line", err, prefix)
	}
	// fusermount3 dying without a word: its status is all there is.
	err = fusermountError("/mnt/x", nil, errors.New("signal: killed"))
	if err == nil || err.Error() != "unmount /mnt/x: fusermount3 failed: signal: killed" {
		t.Errorf("silent failure: %v", err)
	}
	if err := runUnmount(&unmountOptions{MountPoint: dir}, 0); err == nil ||
		err.Error() != "unmount "+dir+": invalid argument (not a mount point)" {
		t.Errorf("root: %v", err)
	}
}
