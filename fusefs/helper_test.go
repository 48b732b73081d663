package fusefs_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// testFSName is what /proc/mounts must show as the source.
const testFSName = "fs-12345678:/"

// env is a local target, a session to it over TLS, and the export mounted
// through fusefs.
type env struct {
	export string // the export directory on disk (the server's view)
	mnt    string // the FUSE mount point
	srv    *fusefs.Server
	client *nfsclient.Client // the session under the mount
}

// mount starts a target, dials it and mounts it; everything is undone in
// t.Cleanup, the mount first.
func mount(t *testing.T, adjust ...func(*fusefs.Options)) *env {
	t.Helper()
	export := newExport(t)
	return mountSession(t, export, fusefs.DialTestSession(t, export), adjust...)
}

// mountTwo mounts one target twice, each mount with a session (an NFS
// client) of its own, as two hosts sharing a file system would.
func mountTwo(t *testing.T, adjust ...func(*fusefs.Options)) (a, b *env) {
	t.Helper()
	export := newExport(t)
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	a = mountSession(t, export, fusefs.DialTestTarget(t, tgt), adjust...)
	b = mountSession(t, export, fusefs.DialTestTarget(t, tgt), adjust...)
	return a, b
}

// newExport is an export directory every user may write to.
func newExport(t *testing.T) string {
	t.Helper()
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	return export
}

// mountSession mounts the export's root through session c.
func mountSession(t *testing.T, export string, c *nfsclient.Client, adjust ...func(*fusefs.Options)) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rootFH, rootAttr, err := c.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatal(err)
	}
	// A mount point other users can reach (t.TempDir is 0700), for the
	// tests that run commands as uid 1000.
	mnt, err := os.MkdirTemp("", "efs-fuse-mnt-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	o := fusefs.Options{
		Session: c, RootFH: rootFH, RootAttr: rootAttr, FSName: testFSName,
		Logger: zaptest.NewLogger(t), Debug: testing.Verbose() && os.Getenv("FUSE_DEBUG") != "",
	}
	for _, f := range adjust {
		f(&o)
	}
	srv, err := fusefs.Mount(mnt, o)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
			_ = exec.Command("fusermount3", "-u", "-z", mnt).Run()
		}
		_ = os.Remove(mnt)
	})
	return &env{export: export, mnt: mnt, srv: srv, client: c}
}

// run runs a command (never with its working directory in the mount: the
// child's chdir would be served by this very process, go-fuse deadlock 1a)
// and fails the test with its output if it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}
