package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/internal/netnstest"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

// TestMountNetNS mounts, in FUSE mode with netns=, a target that only the
// namespace can reach (a relay listening on the namespace's loopback), with
// and without TLS, and moves a file through it.
func TestMountNetNS(t *testing.T) {
	path := netnstest.New(t, true) // before any mount: no fork while our mount is open
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	for name, c := range map[string]struct{ opts, target string }{
		"TLS":   {"tls,cafile=" + tgt.CAFile(), tgt.Addr()},
		"NoTLS": {"notls", tgt.NFSAddr()},
	} {
		t.Run(name, func(t *testing.T) {
			addr, relayed := netnstest.Forward(t, path, c.target)
			mnt := mountNetNS(t, c.opts+",netns="+path, addr, tgt)
			want := []byte("through the namespace: " + name)
			if err := os.WriteFile(filepath.Join(mnt, name), want, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(export, name))
			if err != nil || string(got) != string(want) {
				t.Errorf("export holds %q (%v), want %q", got, err, want)
			}
			if relayed.Load() == 0 {
				t.Error("the mount works without a connection through the namespace")
			}
		})
	}
}

// mountNetNS mounts tgt through dialAddr with opts in this process; the
// mount is undone in Cleanup.
func mountNetNS(t *testing.T, opts, dialAddr string, tgt *localtarget.Target) string {
	t.Helper()
	o, err := mountopts.Parse(opts + ",region=us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	req := &mountopts.MountRequest{
		FSID: "fs-12345678", Path: "/", MountPoint: mnt, Options: o,
		Target: mountopts.Target{DialAddr: dialAddr, ServerName: tgt.ServerName(), DNSName: tgt.ServerName(), Region: "us-east-1"},
		Config: efsconfig.Default(), Logger: zaptest.NewLogger(t),
	}
	startMount(t, req)
	return mnt
}
