package e2e

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

// testUID is the unprivileged user the tests mount as.
const testUID = "1000"

// userEnv prepares what an unprivileged user needs to mount the local
// target: a home, a mount point and a readable copy of the target's CA.
type userEnv struct {
	tgt     *localtarget.Target
	export  string
	home    string
	mnt     string
	cafile  string
	options string
}

func newUserEnv(t *testing.T) *userEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to start the local target and to switch to uid " + testUID)
	}
	if fi, err := os.Stat("/dev/fuse"); err != nil || fi.Mode().Perm()&0o006 != 0o006 {
		t.Fatalf("/dev/fuse is not usable by other users (mode %v, %v): run .ci/install-deps, which sets it to 0666 as the fuse3 udev rule does", fi.Mode(), err)
	}
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	base, err := os.MkdirTemp("", "efs-fuse-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	e := &userEnv{tgt: tgt, export: export, home: filepath.Join(base, "home"), mnt: filepath.Join(base, "mnt"), cafile: filepath.Join(base, "ca.pem")}
	ca, err := os.ReadFile(tgt.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cafile, ca, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{e.home, e.mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	e.options = "tls,cafile=" + e.cafile + ",region=us-east-1" + targetOpts(tgt)
	return e
}

// targetOpts are the -o options that point a mount at the local target.
func targetOpts(tgt *localtarget.Target) string {
	i := strings.LastIndex(tgt.Addr(), ":")
	return ",mounttargetip=" + tgt.Addr()[:i] + ",mounttargetport=" + tgt.Addr()[i+1:]
}

// asUser runs a shell script as uid 1000 with the user's HOME.
func (e *userEnv) asUser(t *testing.T, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("setpriv", "--reuid="+testUID, "--regid="+testUID, "--clear-groups",
		"env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME="+e.home, "sh", "-c", script)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestUnprivilegedMount: uid 1000 mounts with fusermount3 and no config
// changes; what it creates is owned by 1000 on the server, it cannot claim
// another uid, and no other user (root included) can use its mount.
func TestUnprivilegedMount(t *testing.T) {
	e := newUserEnv(t)
	out, err := e.asUser(t, binary+" -o "+e.options+" fs-12345678:/ "+e.mnt)
	if err != nil {
		t.Fatalf("unprivileged mount failed: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = e.asUser(t, "fusermount3 -u -z "+e.mnt) })
	line := mountLine(t, e.mnt)
	if !strings.Contains(line, "fs-12345678:/ "+e.mnt+" fuse.efs ") || !strings.Contains(line, "user_id=1000") {
		t.Fatalf("/proc/mounts line = %q", line)
	}
	if out, err := e.asUser(t, "echo data > "+e.mnt+"/mine && chown 0 "+e.mnt+"/mine"); err == nil {
		t.Fatalf("uid 1000 could give a file to root through the mount:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join(e.export, "mine"))
	if err != nil {
		t.Fatalf("file written by uid 1000 is not in the export: %v", err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 1000 {
		t.Fatalf("file written through an unprivileged mount is owned by uid %d on the server", uid)
	}
	if _, err := os.ReadDir(e.mnt); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("root reading uid 1000's mount: %v, want EACCES (no allow_other)", err)
	}
	if out, err := e.asUser(t, "fusermount3 -u "+e.mnt); err != nil {
		t.Fatalf("fusermount3 -u: %v\n%s", err, out)
	}
	waitUnmounted(t, e.mnt)
}

// TestUserNamespaceMount: inside a rootless user namespace (`unshare
// -Urm`), "root" mounts directly with mount(2); the server still sees only
// the host uid 1000, never 0.
func TestUserNamespaceMount(t *testing.T) {
	e := newUserEnv(t)
	dev := ownExport(t, e)
	script := "set -e; " + binary + " -o " + e.options + " " + dev + " " + e.mnt +
		"; grep ' " + e.mnt + " ' /proc/mounts; id -u; echo ns > " + e.mnt + "/from-ns; cat " + e.mnt + "/from-ns; umount " + e.mnt
	out, err := e.asUser(t, "unshare -Urm sh -c \""+script+"\"")
	if err != nil {
		t.Fatalf("mount in a user namespace failed: %v\n%s", err, out)
	}
	if !strings.Contains(out, "fuse.efs") || !strings.Contains(out, "\n0\n") || !strings.Contains(out, "ns\n") {
		t.Fatalf("unexpected output from the namespace:\n%s", out)
	}
	fi, err := os.Stat(filepath.Join(e.export, "u", "from-ns"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 1000 {
		t.Fatalf("namespace root's file is owned by uid %d on the server, want the host uid 1000", uid)
	}
}

func mountLine(t *testing.T, mnt string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, " "+mnt+" ") {
			return l
		}
	}
	t.Fatalf("%s is not in /proc/mounts", mnt)
	return ""
}

func waitUnmounted(t *testing.T, mnt string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if !mounted(t, mnt) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s still mounted", mnt)
}
