package fusefs_test

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/internal/umltest"
)

// TestCoherenceWithKernelClient: hosts with different clients share EFS.
// In a User-Mode Linux guest (the host kernel has no NFS client), one
// efs-fuse mount and one kernel NFS client mount of the same ganesha
// export pass the coherence checks both ways round: each writes, the
// other reads, locks and lists.
func TestCoherenceWithKernelClient(t *testing.T) {
	if !umltest.InGuest(t, umltest.Timeout(8*time.Minute)) {
		return
	}
	export := newExport(t)
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	fuse := mountSession(t, export, fusefs.DialTestTarget(t, tgt)).mnt
	kernel := kernelMount(t, tgt)
	for _, p := range []struct{ name, a, b string }{
		{"kernel-writes", kernel, fuse},
		{"fuse-writes", fuse, kernel},
	} {
		t.Run(p.name, func(t *testing.T) {
			for _, kind := range []string{"posix", "flock"} {
				t.Run("lock-"+kind, func(t *testing.T) { checkLockCoherence(t, kind, p.a, p.b) })
			}
			t.Run("close-to-open", func(t *testing.T) { checkCloseToOpen(t, p.a, p.b) })
			t.Run("replaced-names", func(t *testing.T) { checkReplacedNames(t, p.a, p.b) })
		})
	}
	t.Run("sqlite", func(t *testing.T) { checkSQLite(t, kernel, fuse, 30) }) // few: the guest pays dearly per system call
}

// kernelMount mounts tgt's ganesha with the kernel NFS client (NFSv4.1,
// plain TCP on the guest's loopback: the TLS front end is efs-fuse's to
// test) and unmounts it in t.Cleanup.
func kernelMount(t *testing.T, tgt *localtarget.Target) string {
	t.Helper()
	host, port, err := net.SplitHostPort(tgt.NFSAddr())
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	out, err := exec.Command("mount", "-t", "nfs4", "-o", "vers=4.1,port="+port+",nosharecache", host+":/", mnt).CombinedOutput()
	if err != nil {
		t.Fatalf("kernel NFS mount: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("unmounting the kernel NFS mount: %v\n%s", err, out)
			_ = exec.Command("umount", "-l", mnt).Run()
		}
		_ = os.Remove(mnt)
	})
	return mnt
}
