package fallback

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// TestKernelMount mounts the local target with the real kernel NFS client
// through a real tunnel process: mount.nfs4 127.0.0.1:/ ... port=N. It needs
// root, nfs-ganesha, mount.nfs4 (nfs-common) and a kernel with an NFS client.
// On such a host:
//
//	sudo go test -run TestKernelMount -v ./internal/fallback
func TestKernelMount(t *testing.T) {
	if !KernelHasNFS4() {
		t.Skip("kernel has no NFS client (nfs4 not in /proc/filesystems)")
	}
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	if _, err := lookPath(MountNFS4); err != nil {
		t.Skip(err)
	}
	e := newFlow(t, nil) // the real mount.nfs4
	e.m.Exec = nil
	if err := e.m.Mount(context.Background(), e.req); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", e.req.MountPoint).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
		for _, s := range mustList(t, e.stateDir) {
			stopPID(t, s.Fallback.PID)
		}
	})
	data := bytes.Repeat([]byte("kernel client through the efs-fuse tunnel\n"), 100000)
	p := filepath.Join(e.req.MountPoint, "kernel-file")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("write through the kernel mount: %v", err)
	}
	// The target's own connections are cut: the kernel reconnects through
	// the tunnel and the file stays readable.
	e.tgt.CutConnections()
	time.Sleep(time.Second)
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back through the kernel mount: %d bytes, %v", len(got), err)
	}
}

func mustList(t *testing.T, dir string) []mountstate.Entry {
	t.Helper()
	l, err := mountstate.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l {
		if s.Err != nil {
			t.Fatal(s.Err)
		}
	}
	return l
}
