package umltest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// bootOrSkip runs a job, skipping where no guest can run.
func bootOrSkip(t *testing.T, j Job) *Result {
	t.Helper()
	if j.Dir == "" {
		j.Dir = t.TempDir()
	}
	res, err := Boot(context.Background(), j)
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestBootRunsJobIsolated: the guest runs the job as root with a kernel
// NFS client and FUSE, hands back its output and exit status, and its
// writes to the root file system, /run and /var/log/amazon/efs stay in the
// guest: the host's files are untouched.
func TestBootRunsJobIsolated(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "written-by-guest")
	res := bootOrSkip(t, Job{Script: `
grep -w nfs4 /proc/filesystems || exit 10
grep -w fuse /proc/filesystems || exit 11
[ -c /dev/fuse ] || exit 12
[ "$(id -u)" = 0 ] || exit 13
[ "$(stat -f -c %T "$TMPDIR")" = tmpfs ] || exit 14
echo guest > ` + marker + ` || exit 15
echo guest > /run/efs/guest-state || exit 16
echo guest > /var/log/amazon/efs/guest.log || exit 17
echo "kernel $(uname -r)"
exit 3
`, Timeout: 2 * time.Minute})
	if res.Status != 3 {
		t.Fatalf("guest job exit status %d, want 3; output:\n%s\nconsole:\n%s", res.Status, res.Output, res.Console)
	}
	if !strings.Contains(string(res.Output), "kernel 6.") {
		t.Errorf("guest output lacks the kernel version:\n%s", res.Output)
	}
	for _, p := range []string{marker, "/run/efs/guest-state", "/var/log/amazon/efs/guest.log"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the guest's write to %s reached the host", p)
		}
	}
	t.Logf("boot, job and power-off took %v", res.Elapsed)
}

// TestBootTimeout: a job that never ends is stopped at its timeout, the
// error says so, and no process of the guest is left on the host.
func TestBootTimeout(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	_, err := Boot(context.Background(), Job{Script: "sleep 600", Dir: dir, Timeout: 20 * time.Second})
	if errors.Is(err, ErrUnavailable) {
		t.Skip(err)
	}
	if err == nil || !strings.Contains(err.Error(), "did not finish its job within 20s") {
		t.Fatalf("Boot of a job that never ends: %v, want a timeout", err)
	}
	if el := time.Since(start); el > 40*time.Second {
		t.Errorf("stopping the guest took %v after a 20s timeout", el)
	}
	// Each UML process has uml_dir (our dir) on its command line.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "uml_dir="+dir) {
			t.Errorf("guest process %s still running after the timeout", p)
		}
	}
}

// TestInGuest runs in a guest: the kernel there has an NFS client, which
// the host's has not.
func TestInGuest(t *testing.T) {
	if !InGuest(t, Timeout(2*time.Minute)) {
		return
	}
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "nfs4") {
		t.Fatalf("the guest kernel has no nfs4:\n%s", b)
	}
	if os.Getenv("TMPDIR") != "/var/tmp" {
		t.Errorf("guest TMPDIR %q, want /var/tmp", os.Getenv("TMPDIR"))
	}
}

func TestRunPattern(t *testing.T) {
	for in, want := range map[string]string{
		"TestA":          "^TestA$",
		"TestA/sub_(x)":  `^TestA$/^sub_\(x\)$`,
		"TestB/1.5/deep": `^TestB$/^1\.5$/^deep$`,
	} {
		if got := runPattern(in); got != want {
			t.Errorf("runPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSkipReason(t *testing.T) {
	// go test -v prints the log under the SKIP line.
	out := "=== RUN   TestX\n--- SKIP: TestX (0.00s)\n    x_test.go:9: no mount.nfs4\nPASS\n"
	if got := skipReason(out, "TestX"); got != "x_test.go:9: no mount.nfs4" {
		t.Errorf("skipReason = %q", got)
	}
}

// TestAvailableReasons: each missing piece is reported as ErrUnavailable
// with what to install or fix, so tests skip saying why.
func TestAvailableReasons(t *testing.T) {
	dir := t.TempDir()
	fakeKernel := filepath.Join(dir, "linux.uml")
	if err := os.WriteFile(fakeKernel, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	mods := filepath.Join(dir, "modules")
	if err := os.MkdirAll(filepath.Join(mods, "6.1", "kernel", "fs", "overlayfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mods, "6.1", "kernel", "fs", "overlayfs", "overlay.ko"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ kernel, mods, mem, want string }{
		{filepath.Join(dir, "none"), mods, "/dev/shm", "apt-get install user-mode-linux"},
		{fakeKernel, dir, "/dev/shm", "no guest kernel modules"},
		{fakeKernel, mods, filepath.Join(dir, "none"), "is not a tmpfs"},
	} {
		err := available(c.kernel, c.mods, c.mem)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("available(%s, %s, %s) = %v, want ErrUnavailable saying %q", c.kernel, c.mods, c.mem, err, c.want)
		}
	}
	var st unix.Statfs_t
	if unix.Statfs("/dev/shm", &st) == nil && st.Type == unix.TMPFS_MAGIC {
		if err := available(fakeKernel, mods, "/dev/shm"); err != nil {
			t.Errorf("all present: %v", err)
		}
	}
}
