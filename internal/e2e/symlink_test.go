package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// TestMountThroughSymlink: a mount point named through a symbolic link is
// recorded under the real path, so `status` sees the live mount (it said
// "unmounted"), mounting through the link again says it is mounted
// instead of stacking a second mount, and `unmount LINK` unmounts it.
func TestMountThroughSymlink(t *testing.T) {
	e := newRootEnv(t)
	link := filepath.Join(t.TempDir(), "efs")
	if err := os.Symlink(e.mnt, link); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		out, err := e.cmd(t, binary, "-o", e.options, "fs-12345678:/", link)
		if err != nil {
			t.Fatalf("efs-fuse mount through %s (try %d): %v\n%s", link, i+1, err, out)
		}
		if i == 1 && !strings.Contains(out, "is already mounted") {
			t.Errorf("second mount through the link said %q, want 'already mounted'", out)
		}
	}
	if n := countMounts(t, e.mnt); n != 1 {
		t.Errorf("%d mounts at %s after mounting twice through a link, want 1", n, e.mnt)
	}
	st, err := mountstate.ReadFUSE(filepath.Join(e.state, mountstate.FUSEFileName("fs-12345678", e.mnt)))
	if err != nil {
		t.Fatalf("state file under the real path: %v", err)
	}
	if st.MountPoint != e.mnt {
		t.Errorf("state file mount point %q, want %q", st.MountPoint, e.mnt)
	}
	out, err := e.cmd(t, binary, "status", "--json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	var status struct {
		Mounts []struct {
			MountPoint string `json:"mountpoint"`
			State      string `json:"state"`
		} `json:"mounts"`
	}
	if err := json.Unmarshal([]byte(out), &status); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	if len(status.Mounts) != 1 || status.Mounts[0].MountPoint != e.mnt || status.Mounts[0].State != "healthy" {
		t.Errorf("status: %+v, want %s healthy", status.Mounts, e.mnt)
	}
	pid := st.PID
	if out, err := e.cmd(t, binary, "unmount", link); err != nil {
		t.Fatalf("efs-fuse unmount %s: %v\n%s", link, err, out)
	}
	if mounted(t, e.mnt) {
		t.Fatalf("%s still mounted after unmount through the link", e.mnt)
	}
	waitExited(t, pid, 30*time.Second)
}

// countMounts counts the mounts stacked at mp.
func countMounts(t *testing.T, mp string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == mp {
			n++
		}
	}
	return n
}
