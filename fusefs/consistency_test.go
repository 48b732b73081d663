package fusefs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// otherClient replaces the content of the file name (at the export's top)
// the way another NFS client would: OPEN with truncation, a FILE_SYNC
// WRITE and CLOSE, under its own open-owner, on the session under the
// mount but past fusefs, which learns of it only from the server. Writing
// into the export directory instead would not do: the local target's
// ganesha caches attributes (MDCACHE) and keeps answering the old size and
// change attribute for a file changed behind its back.
func otherClient(t *testing.T, e *env, name string, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	root, _, err := e.client.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatal(err)
	}
	zero := uint64(0)
	o, err := e.client.Open(ctx, rpc.Root, nfsclient.OpenArgs{Dir: root, Name: name, Access: nfsclient.ShareWrite,
		Create: nfsclient.Unchecked, Attrs: nfsclient.SetAttr{Size: &zero}, Owner: []byte("another-client")})
	if err != nil {
		t.Fatalf("other client: open %s: %v", name, err)
	}
	if _, err := e.client.Write(ctx, rpc.Root, o.FH, o.Stateid, 0, data, nfsclient.FileSync); err != nil {
		t.Fatalf("other client: write %s: %v", name, err)
	}
	if err := e.client.CloseState(ctx, rpc.Root, o.FH, o.Stateid); err != nil {
		t.Fatalf("other client: close %s: %v", name, err)
	}
}

// readNoStat reads a whole file with open and read only. os.ReadFile's
// fstat would make the kernel fetch fresh attributes (a read updates
// atime, which invalidates them), and with them it drops pages whose mtime
// changed: that would hide whether open alone revalidates, as
// close-to-open consistency requires.
func readNoStat(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// TestCloseToOpen: what another client changes is seen by the next open
// through the mount (the page cache of an earlier read is not reused), a
// stat after the attribute timeout shows its size, and what is written
// through the mount is on the server once close returns.
func TestCloseToOpen(t *testing.T) {
	attrTimeout := 500 * time.Millisecond
	e := mount(t, func(o *fusefs.Options) { o.AttrTimeout = &attrTimeout })
	m, x := filepath.Join(e.mnt, "cto"), filepath.Join(e.export, "cto")

	otherClient(t, e, "cto", []byte("version one"))
	if got, err := os.ReadFile(m); err != nil || string(got) != "version one" {
		t.Fatalf("first read through the mount: %q, %v", got, err)
	}
	// Same size: only the change attribute can tell the cached pages
	// are old.
	otherClient(t, e, "cto", []byte("version two"))
	if got, err := readNoStat(m); err != nil || string(got) != "version two" {
		t.Fatalf("reopen after another client rewrote the file: %q, %v (want %q)", got, err, "version two")
	}
	// Longer: the reopen must also not stop at the size cached before.
	longer := "version three, which is longer"
	otherClient(t, e, "cto", []byte(longer))
	if got, err := readNoStat(m); err != nil || string(got) != longer {
		t.Fatalf("reopen after another client grew the file: %q, %v (want %q)", got, err, longer)
	}

	// Size seen by stat once the cached attributes expire.
	if _, err := os.Stat(m); err != nil {
		t.Fatal(err)
	}
	otherClient(t, e, "cto", bytes.Repeat([]byte("z"), 12345))
	time.Sleep(attrTimeout + 300*time.Millisecond)
	if fi, err := os.Stat(m); err != nil || fi.Size() != 12345 {
		t.Fatalf("stat %v after the attribute timeout: %v, %v (want size 12345)", attrTimeout, fi, err)
	}

	// Our write reaches the server by the time close returns: no fsync,
	// no waiting.
	f, err := os.OpenFile(m, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("written through the mount")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got, _ := os.ReadFile(x); string(got) != "written through the mount" {
		t.Fatalf("export right after close holds %q", got)
	}
}

// asUser runs a command as uid/gid 1000 with exactly the supplementary
// groups given, from outside the mount, and returns its output. The same
// second user as TestOperations/Permissions (which uses setpriv), with
// the credentials set by the kernel at fork instead, so the groups are
// exact. Callers must hold no file of the mount open (go-fuse deadlock
// on fork).
func asUser(groups []uint32, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000, Groups: groups}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSupplementaryGroups: requests carry the caller's supplementary
// groups, so the server grants group access through them exactly as for
// the kernel client, and refuses without them.
func TestSupplementaryGroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run commands as uid 1000 with chosen groups")
	}
	e := mount(t)
	secret := filepath.Join(e.mnt, "group-secret")
	if err := os.WriteFile(secret, []byte("for group 2000\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(secret, 0, 2000); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(e.export, "group-secret"), &st); err != nil || st.Uid != 0 || st.Gid != 2000 || st.Mode&0o777 != 0o640 {
		t.Fatalf("export: %d:%d mode %o (%v), want root:2000 0640", st.Uid, st.Gid, st.Mode&0o777, err)
	}

	out, err := asUser([]uint32{2000}, "cat", secret)
	if err != nil || out != "for group 2000\n" {
		t.Fatalf("uid 1000 in group 2000 reading a root:2000 0640 file: %v %q", err, out)
	}
	out, err = asUser([]uint32{}, "cat", secret)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("uid 1000 without group 2000 reading a root:2000 0640 file: %v %q, want EACCES", err, out)
	}

	// A root-owned 0755 directory: no one else may create in it.
	dir := filepath.Join(e.mnt, "roots")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = asUser([]uint32{2000}, "touch", filepath.Join(dir, "intruder"))
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("uid 1000 creating in root's 0755 directory: %v %q, want EACCES", err, out)
	}
	if _, err := os.Stat(filepath.Join(e.export, "roots", "intruder")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused create left a file on the server: %v", err)
	}
}
