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
	if !strings.Contains(line, "fs-12345678:/ "+e.mnt+" fuse.efs-fuse ") || !strings.Contains(line, "user_id=1000") {
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
// the host uid 1000, never 0. Owners are mapped both ways: the user's own
// files show as namespace root (so it can append to them, create in its
// own directories, rename, chmod and remove them, which the kernel refuses
// for unmapped owners), and a file of a host user the namespace has no id
// for shows as the overflow id.
func TestUserNamespaceMount(t *testing.T) {
	e := newUserEnv(t)
	// The user's own directory, as an administrator (or an access point)
	// would give it: the kernel lets nobody write into a directory whose
	// owner the namespace cannot name, such as the export's root-owned top.
	home := filepath.Join(e.export, "u")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "roots"), []byte("host root's"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := e.mnt
	script := "set -e; " + binary + " -o " + e.options + " fs-12345678:/u " + m +
		"; grep ' " + m + " ' /proc/mounts; id -u; echo ns > " + m + "/from-ns; cat " + m + "/from-ns" +
		"; echo more >> " + m + "/from-ns" +
		"; mkdir " + m + "/d; echo in-d > " + m + "/d/f; mv " + m + "/d/f " + m + "/d/g; chmod 600 " + m + "/d/g" +
		"; stat -c 'owner %u:%g %a %n' " + m + "/from-ns " + m + "/d " + m + "/d/g " + m + "/roots" +
		"; rm " + m + "/d/g; rmdir " + m + "/d; echo removed; umount " + m
	out, err := e.asUser(t, "unshare -Urm sh -c \""+script+"\"")
	if err != nil {
		t.Fatalf("mount in a user namespace failed: %v\n%s", err, out)
	}
	for _, want := range []string{"fuse.efs", "\n0\n", "ns\n", "owner 0:0 644 " + m + "/from-ns", "owner 0:0 755 " + m + "/d",
		"owner 0:0 600 " + m + "/d/g", "owner 65534:65534 644 " + m + "/roots", "removed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("no %q in the output from the namespace:\n%s", want, out)
		}
	}
	fi, err := os.Stat(filepath.Join(home, "from-ns"))
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 1000 {
		t.Fatalf("namespace root's file is owned by uid %d on the server, want the host uid 1000", uid)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "from-ns")); string(b) != "ns\nmore\n" {
		t.Fatalf("appended file on the server: %q", b)
	}
}

// TestUserNamespaceSupervised: a mount made inside `unshare -Urm` is
// visible only in that mount namespace, so it is supervised by a watchdog
// living there, with state of its own: with the user's watchdog already
// running outside (for another mount of theirs), `kill -9` of the
// namespace mount's serving process is followed by a remount at the same
// place, and `status` inside shows the mount again.
func TestUserNamespaceSupervised(t *testing.T) {
	e := newUserEnv(t)
	home := filepath.Join(e.export, "u")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	// The user's own mount outside the namespace starts their watchdog.
	outside := filepath.Join(e.home, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil || os.Chown(outside, 1000, 1000) != nil {
		t.Fatal(err)
	}
	if out, err := e.asUser(t, binary+" -o "+e.options+" fs-12345678:/u "+outside); err != nil {
		t.Fatalf("mount outside the namespace: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = e.asUser(t, "fusermount3 -u -z "+outside) })

	m := e.mnt
	script := `set -e
pid() { ` + binary + ` status --json | tr -d ' \n' | sed -n 's/.*"pid":\([0-9]*\),"pidAlive":true.*/\1/p'; }
` + binary + ` -o ` + e.options + ` fs-12345678:/u ` + m + `
echo before > ` + m + `/f
p=$(pid); echo serving=$p; kill -9 $p
i=0
until [ "$(timeout 2 cat ` + m + `/f 2>/dev/null)" = before ]; do i=$((i+1)); [ $i -lt 300 ] || exit 3; sleep 0.1; done
echo after=$(pid)
` + binary + ` status
echo more >> ` + m + `/f
umount ` + m + `
`
	sh := filepath.Join(e.home, "ns.sh")
	if err := os.WriteFile(sh, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := e.asUser(t, "unshare -Urm sh "+sh)
	if err != nil {
		t.Fatalf("kill -9 of a namespace mount's serving process was not repaired: %v\n%s", err, out)
	}
	before, after := field(out, "serving="), field(out, "after=")
	if before == "" || after == "" || before == after || !strings.Contains(out, "healthy") {
		t.Fatalf("no remount by a new process seen from inside the namespace:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(home, "f")); string(b) != "before\nmore\n" {
		t.Fatalf("file written across the remount: %q", b)
	}
	// The outside mount is still supervised and working.
	if out, err := e.asUser(t, "cat "+outside+"/f"); err != nil {
		t.Fatalf("the mount outside the namespace: %v\n%s", err, out)
	}
}

// field is the rest of the line of out that starts with prefix.
func field(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
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

// TestUnprivilegedMountRefusedSaysWhy: when fusermount3 refuses a user's
// mount, the user reads fusermount3's own reason on one line, not a wait
// status ("fusermount exited with code 256").
func TestUnprivilegedMountRefusedSaysWhy(t *testing.T) {
	e := newUserEnv(t)
	// A directory uid 1000 may enter but not write: fusermount3 refuses it.
	notMine := filepath.Join(filepath.Dir(e.mnt), "not-mine")
	if err := os.Mkdir(notMine, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := e.asUser(t, binary+" -o "+e.options+" fs-12345678:/ "+notMine)
	if err == nil {
		_, _ = e.asUser(t, "fusermount3 -u -z "+notMine)
		t.Fatalf("uid 1000 mounted on a directory it cannot write:\n%s", out)
	}
	want := "Failed to mount at " + notMine + ": fusermount3: user has no write access to mountpoint " + notMine + "\n"
	if out != want {
		t.Errorf("output\n got %q\nwant %q", out, want)
	}
}
