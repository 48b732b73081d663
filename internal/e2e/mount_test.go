package e2e

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/fusemount"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/watchdog"
)

// rig is a local target and an efs-fuse mount of it made by the production
// mounter.
type rig struct {
	tgt    *localtarget.Target
	export string
	mnt    string
}

// mountRig starts a target (adjusted by topts) and mounts it with the given
// extra -o options; the mount is undone first in Cleanup.
func mountRig(t *testing.T, extraOpts string, topts ...func(*localtarget.Options)) *rig {
	t.Helper()
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	topts = append([]func(*localtarget.Options){func(o *localtarget.Options) { o.ExportDir = export }}, topts...)
	tgt := testtarget.Start(t, topts...)
	mnt := t.TempDir()
	optStr := "tls,cafile=" + tgt.CAFile() + ",region=us-east-1"
	if extraOpts != "" {
		optStr += "," + extraOpts
	}
	opts, err := mountopts.Parse(optStr)
	if err != nil {
		t.Fatal(err)
	}
	req := &mountopts.MountRequest{
		FSID: "fs-12345678", Path: "/", MountPoint: mnt, Options: opts,
		Target: mountopts.Target{DialAddr: tgt.Addr(), ServerName: tgt.ServerName(), DNSName: tgt.ServerName(), Region: "us-east-1"},
		Config: efsconfig.Default(), Logger: zaptest.NewLogger(t),
	}
	startMount(t, req)
	return &rig{tgt: tgt, export: export, mnt: mnt}
}

// randomFile writes size pseudo-random bytes to a new file and returns its
// path and sha256.
func randomFile(t *testing.T, size int64) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	if _, err := io.CopyN(io.MultiWriter(f, h), r, size); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return p, sum
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// run runs a command as an application would, failing the test with its
// output if it fails.
func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// startMount mounts req in this process, as the mount helper's serving
// process does, and returns once the mount answers; Cleanup unmounts it.
func startMount(t *testing.T, req *mountopts.MountRequest) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- (fusemount.Mounter{}).Mount(ctx, req, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("mount: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("mount did not become ready")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("unmount: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("mount did not end after cancel")
		}
	})
}

// mounted reports whether a FUSE file system is mounted at mnt, read with
// the watchdog's mountinfo parser: the directory left under a lazily
// detached mount does not count.
func mounted(t *testing.T, mnt string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return watchdog.ParseMountInfo(string(b)).Has(mnt, "fuse")
}
