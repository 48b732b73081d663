package fallbacke2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const bigSize = 256 << 20

// TestFallbackLargeFile: `efs-fuse -o tls,fallback,nconnect=2` mounts the
// target with the kernel client through our tunnel (nconnect passed on),
// `efs-fuse status` shows the mount, 256 MiB written with dd and read back
// after the page cache is dropped have the same sha256 as the source, in
// the export too, and umount lets the watchdog stop the tunnel and remove
// the mount's state.
func TestFallbackLargeFile(t *testing.T) {
	// Reading 256 MiB back through the tunnel took 4 minutes in a guest on
	// a loaded machine (about 30 s for the write).
	if !inGuest(t, 15*time.Minute) {
		return
	}
	e := newGuestEnv(t)
	e.mount(t, ",nconnect=2")
	opts, ok := mountOptions(t, e.mnt)
	port := strconv.Itoa(theState(t).Fallback.Port)
	if !ok || !strings.HasPrefix(opts, "nfs4 127.0.0.1:/ ") || !strings.Contains(opts, ",nconnect=2,") ||
		!strings.Contains(opts, ",port="+port+",") || !strings.Contains(opts, "vers=4.1") {
		t.Fatalf("mount at %s: %q, want nfs4 from 127.0.0.1:/ with vers=4.1, nconnect=2, port=%s", e.mnt, opts, port)
	}
	status, err := run(t, binary, "status")
	if err != nil || !strings.Contains(status, e.mnt) || !strings.Contains(status, "fallback:"+port) || !strings.Contains(status, "healthy") {
		t.Errorf("efs-fuse status (%v) does not show %s as a healthy fallback:%s mount:\n%s", err, e.mnt, port, status)
	}

	src := filepath.Join(t.TempDir(), "src")
	want := randomFile(t, src, bigSize, 1)
	start := time.Now()
	if out, err := run(t, "dd", "if="+src, "of="+filepath.Join(e.mnt, "big"), "bs=1M", "conv=fsync"); err != nil {
		t.Fatalf("dd to the mount: %v\n%s", err, out)
	}
	t.Logf("256 MiB written (dd, fsync) in %v", time.Since(start).Round(time.Millisecond))
	if got := fileSHA(t, e.inExport("big")); got != want {
		t.Fatalf("sha256 in the export %s, want %s", got, want)
	}
	dropCaches(t)
	start = time.Now()
	if got := fileSHA(t, filepath.Join(e.mnt, "big")); got != want {
		t.Fatalf("sha256 read through the mount %s, want %s", got, want)
	}
	t.Logf("256 MiB read in %v", time.Since(start).Round(time.Millisecond))
	e.unmount(t)
	if status, _ := run(t, binary, "status"); strings.Contains(status, e.mnt) {
		t.Errorf("efs-fuse status still lists %s after the unmount:\n%s", e.mnt, status)
	}
}

// TestFallbackMountEFS: with /sbin/mount.efs linked to efs-fuse (in the
// guest's overlay), `mount -t efs -o tls,fallback` mounts through the
// tunnel and `umount` ends it.
func TestFallbackMountEFS(t *testing.T) {
	if !inGuest(t, 4*time.Minute) {
		return
	}
	e := newGuestEnv(t)
	if err := os.Symlink(binary, "/sbin/mount.efs"); err != nil {
		t.Fatalf("linking /sbin/mount.efs in the guest: %v", err)
	}
	if out, err := run(t, "mount", "-t", "efs", "-o", e.opts, "fs-12345678:/", e.mnt); err != nil {
		t.Fatalf("mount -t efs: %v\n%s", err, out)
	}
	if opts, ok := mountOptions(t, e.mnt); !ok || !strings.HasPrefix(opts, "nfs4 127.0.0.1:/ ") {
		t.Fatalf("mount -t efs made %q at %s, want an nfs4 mount from the tunnel", opts, e.mnt)
	}
	if err := os.WriteFile(filepath.Join(e.mnt, "hello"), []byte("through mount -t efs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(e.inExport("hello")); err != nil || string(b) != "through mount -t efs\n" {
		t.Fatalf("export has %q, %v", b, err)
	}
	e.unmount(t)
}
