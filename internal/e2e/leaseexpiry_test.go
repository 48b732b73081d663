package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
)

// TestLeaseExpiryLosesLocks: a client cut off for longer than its lease
// comes back to a server that has expired it (ganesha drops the client
// and its session: BADSESSION, then NO_GRACE on every reclaim). A file
// with a POSIX lock is then lost (EIO: another client could have held the
// range meanwhile), and a file open without locks is opened again and
// carries on.
func TestLeaseExpiryLosesLocks(t *testing.T) {
	const lease = 5 * time.Second
	r := mountRig(t, "", func(o *localtarget.Options) { o.LeaseSeconds = int(lease / time.Second) })
	var files [2]*os.File
	for i, name := range []string{"locked", "unlocked"} {
		f, err := os.OpenFile(filepath.Join(r.mnt, name), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	locked, unlocked := files[0], files[1]
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Len: 100}
	if err := syscall.FcntlFlock(locked.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	// Three leases: ganesha's reaper runs once per lease.
	r.tgt.Blackhole(3 * lease)
	time.Sleep(3*lease + time.Second)
	if _, err := unlocked.WriteAt([]byte("after"), 0); err != nil {
		t.Fatalf("write to the file without locks after the lease expired: %v", err)
	}
	if err := unlocked.Sync(); err != nil {
		t.Fatalf("fsync of the file without locks after the lease expired: %v", err)
	}
	if _, err := locked.WriteAt([]byte("after"), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("write under a lock lost with the lease: %v, want EIO", err)
	}
	if b, err := os.ReadFile(filepath.Join(r.export, "unlocked")); err != nil || string(b) != "after" {
		t.Fatalf("the file without locks on the server: %q, %v", b, err)
	}
}
