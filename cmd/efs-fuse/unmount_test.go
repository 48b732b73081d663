package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	err := fusermountUnmount(dir, false)
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
		err.Error() != "unmount "+dir+": not a mount point" {
		t.Errorf("root: %v", err)
	}
}

// TestResolveMountPoint: links anywhere in the path, relative and
// absolute, lead to the real directory; a loop is an error.
func TestResolveMountPoint(t *testing.T) {
	base, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	real := filepath.Join(base, "real", "mnt")
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"abs":      real,
		"rel":      "real/mnt",
		"dirlink":  filepath.Join(base, "real"),
		"chain":    "abs",
		"loop1":    "loop2",
		"loop2":    "loop1",
		"dangling": "nowhere",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(base, name)); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"abs", "rel", "dirlink/mnt", "chain", "real/mnt", "real/../abs"} {
		got, err := resolveMountPoint(filepath.Join(base, p))
		if err != nil || got != real {
			t.Errorf("resolveMountPoint(%s) = %q, %v; want %s", p, got, err, real)
		}
	}
	if _, err := resolveMountPoint(filepath.Join(base, "loop1")); err == nil {
		t.Error("a symbolic link loop resolved")
	}
	if got, err := resolveMountPoint(filepath.Join(base, "dangling")); err != nil || got != filepath.Join(base, "nowhere") {
		t.Errorf("dangling link: %q, %v", got, err)
	}
}

// TestCheckEFSMount: only efs-fuse's FUSE mounts and NFS mounts may be
// unmounted, judged by the topmost mount at the path.
func TestCheckEFSMount(t *testing.T) {
	mi := `22 1 8:1 / / rw - ext4 /dev/sda1 rw
30 22 0:40 / /mnt/efs rw - fuse.efs fs-12345678:/ rw,user_id=0
31 22 0:41 / /mnt/helper rw - fuse.efs-fuse fs-12345678:/ rw
32 22 0:42 / /mnt/nfs rw - nfs4 127.0.0.1:/ rw,port=20049
33 22 0:43 / /mnt/tmp rw - tmpfs tmpfs rw
34 22 0:44 / /mnt/sshfs rw - fuse.sshfs host: rw
35 22 0:45 / /mnt/stacked rw - fuse.efs fs-12345678:/ rw
36 35 0:46 / /mnt/stacked rw - tmpfs tmpfs rw
`
	for mp, ok := range map[string]bool{"/mnt/efs": true, "/mnt/helper": true, "/mnt/nfs": true,
		"/mnt/tmp": false, "/mnt/sshfs": false, "/mnt/stacked": false, "/mnt/none": false, "/": false} {
		if err := checkEFSMount(mi, mp); (err == nil) != ok {
			t.Errorf("checkEFSMount(%s) = %v, want allowed=%v", mp, err, ok)
		}
	}
}

// TestUnmountRefusesTmpfs: `efs-fuse unmount` of a tmpfs (a real one, as
// root), named directly or through a link, fails and leaves it mounted;
// it used to unmount it.
func TestUnmountRefusesTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, link} {
		err := runUnmount(&unmountOptions{MountPoint: p}, 0)
		if err == nil || !strings.Contains(err.Error(), "not an efs-fuse mount") {
			t.Errorf("unmount %s: %v, want a refusal", p, err)
		}
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if typ, _, ok := topMount(string(mi), dir); !ok || typ != "tmpfs" {
		t.Fatalf("the tmpfs at %s is gone after the refused unmounts (%q, %v)", dir, typ, ok)
	}
}
