package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// How mount(8) finds helpers (util-linux 2.38, checked here): it runs
// mount.<type> from /sbin:/sbin/fs.d:/sbin/fs only, never from PATH, and
// it drops PATH (and HOME) from the environment it passes on, keeping the
// rest. mount.fuse3 runs the subtype's program ("efs-fuse" for
// fuse.efs-fuse) through /bin/sh, whose search path is then its default,
// /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin. So no
// temporary PATH directory can serve: each test installs a symlink to the
// built binary where mount(8) looks, only if the name is free, and
// removes it afterwards.

// installHelper links path to the built binary for the test, or skips
// when something already has that name.
func installHelper(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Skipf("%s exists (an installed efs-fuse or efs-utils): not replacing it", path)
	}
	if err := os.Symlink(binary, path); err != nil {
		t.Skipf("cannot install %s: %v", path, err)
	}
	t.Cleanup(func() {
		if dst, err := os.Readlink(path); err == nil && dst == binary {
			if err := os.Remove(path); err != nil {
				t.Errorf("remove %s: %v", path, err)
			}
		}
	})
}

// TestMountFuse3Helper: `mount -t fuse.efs-fuse` runs /sbin/mount.fuse
// (fuse3's mount.fuse3), which runs efs-fuse from sh's default path; the
// mount works and `umount` ends it and its serving process.
func TestMountFuse3Helper(t *testing.T) {
	e := newRootEnv(t)
	if _, err := os.Stat("/sbin/mount.fuse"); err != nil {
		t.Skipf("no /sbin/mount.fuse (fuse3's mount.fuse3): %v", err)
	}
	// mount(8) would run this one instead of mount.fuse3.
	if _, err := os.Lstat("/sbin/mount.fuse.efs-fuse"); err == nil {
		t.Skip("/sbin/mount.fuse.efs-fuse exists and would be run instead of mount.fuse3")
	}
	installHelper(t, "/usr/local/sbin/efs-fuse") // first in sh's default path
	mountAndUnmount(t, e, "fuse.efs-fuse")
}

// TestMountFuseSubtypeHelper: with /sbin/mount.fuse.efs-fuse present,
// mount(8) runs it directly (argv[0] mount.fuse.efs-fuse, no -t).
func TestMountFuseSubtypeHelper(t *testing.T) {
	e := newRootEnv(t)
	installHelper(t, "/sbin/mount.fuse.efs-fuse")
	mountAndUnmount(t, e, "fuse.efs-fuse")
}

// TestMountEFSHelper: `mount -t efs` runs /sbin/mount.efs, our binary by
// that name (argv[0]: mount(8) helper semantics).
func TestMountEFSHelper(t *testing.T) {
	e := newRootEnv(t)
	installHelper(t, "/sbin/mount.efs")
	mountAndUnmount(t, e, "efs")
}

// mountAndUnmount mounts the local target with mount(8) as fstype, checks
// the mount in /proc/mounts and through a file, then umounts it and waits
// for the serving process to exit.
func mountAndUnmount(t *testing.T, e *rootEnv, fstype string) {
	t.Helper()
	if out, err := e.cmd(t, "mount", "-t", fstype, "-o", e.options, "fs-12345678:/", e.mnt); err != nil {
		t.Fatalf("mount -t %s: %v\n%s", fstype, err, out)
	}
	if line := mountLine(t, e.mnt); !strings.HasPrefix(line, "fs-12345678:/ "+e.mnt+" fuse.efs-fuse ") {
		t.Fatalf("/proc/mounts line = %q", line)
	}
	// The type the user named finds it, whichever way it was mounted.
	if out, err := exec.Command("findmnt", "-t", "fuse.efs-fuse", "-n", "-o", "TARGET", e.mnt).CombinedOutput(); err != nil ||
		strings.TrimSpace(string(out)) != e.mnt {
		t.Errorf("findmnt -t fuse.efs-fuse %s: %v, %q", e.mnt, err, out)
	}
	pid := e.servingPID(t)
	if err := os.WriteFile(filepath.Join(e.mnt, "via-"+fstype), []byte(fstype), 0o644); err != nil {
		t.Fatalf("write through the mount: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(e.export, "via-"+fstype)); err != nil || string(got) != fstype {
		t.Fatalf("export holds %q, %v", got, err)
	}
	if log := e.log(t); !strings.Contains(log, "Successfully mounted fs-12345678.efs.us-east-1.amazonaws.com at "+e.mnt) {
		t.Errorf("mount log lacks the success line:\n%s", log)
	}
	if out, err := e.cmd(t, "umount", e.mnt); err != nil {
		t.Fatalf("umount: %v\n%s", err, out)
	}
	if mounted(t, e.mnt) {
		t.Fatalf("%s still mounted after umount", e.mnt)
	}
	waitExited(t, pid, 30*time.Second)
	if !strings.Contains(e.log(t), "unmounted; closing the NFS session") {
		t.Errorf("the serving process did not log its unmount:\n%s", e.log(t))
	}
	if _, err := os.Stat(filepath.Join(e.state, "fs-12345678"+strings.ReplaceAll(e.mnt, "/", ".")+".fuse")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after umount: %v, want it removed", err)
	}
}
