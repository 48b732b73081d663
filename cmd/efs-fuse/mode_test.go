package main

import (
	"context"
	"strings"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

type fakeFallback struct{ reqs []*mountopts.MountRequest }

func (f *fakeFallback) Mount(_ context.Context, req *mountopts.MountRequest) error {
	f.reqs = append(f.reqs, req)
	return nil
}

// TestFallbackModeChosen: without FUSE but with a kernel NFS client the
// mount goes to the fallback mounter, in the foreground (no FUSE daemon),
// and the log says why; -o fallback without a kernel client is refused.
func TestFallbackModeChosen(t *testing.T) {
	h := newHarness(t)
	fb := &fakeFallback{}
	h.deps.Fallback = fb
	h.deps.FUSEAvailable = func() bool { return false }
	h.deps.KernelHasNFS = func() bool { return true }
	if code := h.run("efs-fuse", "-o", "tls", "fs-12345678:/", h.mnt); code != 0 {
		t.Fatalf("exit %d: %s", code, h.stderr)
	}
	if len(fb.reqs) != 1 || len(h.mounter.reqs) != 0 || len(h.daemonized) != 0 {
		t.Fatalf("fallback %d, fuse %d, daemonized %d", len(fb.reqs), len(h.mounter.reqs), len(h.daemonized))
	}
	if r := fb.reqs[0]; r.StateDir == "" || r.Logger == nil || r.Config == nil {
		t.Fatalf("fallback request incomplete: %+v", r)
	}
	if log := h.log(t); !strings.Contains(log, "FUSE is not available") {
		t.Fatalf("reason not logged:\n%s", log)
	}

	h2 := newHarness(t)
	h2.deps.Fallback = &fakeFallback{}
	if code := h2.run("efs-fuse", "-o", "tls,fallback", "fs-12345678:/", h2.mnt); code != 1 ||
		!strings.Contains(h2.stderr.String(), "needs the kernel NFS client") {
		t.Fatalf("fallback without kernel NFS: exit %d, %q", code, h2.stderr)
	}
}
