package e2e

import (
	"context"
	"os"
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
)

const testAP = "fsap-0123456789abcdef0"

// TestAccessPointAndIAMMounts: a target that requires an access point, or
// IAM with known credentials, accepts a mount that presents them in its
// client certificate and refuses one that does not.
func TestAccessPointAndIAMMounts(t *testing.T) {
	t.Run("AccessPointAccepted", func(t *testing.T) {
		r := mountRig(t, "accesspoint="+testAP, func(o *localtarget.Options) { o.RequireAccessPoint = testAP })
		if err := os.WriteFile(filepath.Join(r.mnt, "ap"), []byte("x"), 0o644); err != nil {
			t.Fatalf("write through an access point mount: %v", err)
		}
	})
	t.Run("AccessPointMissingRefused", func(t *testing.T) {
		err := tryMount(t, "", func(o *localtarget.Options) { o.RequireAccessPoint = testAP })
		if err == nil {
			t.Fatal("a mount without the access point was accepted")
		}
	})
	t.Run("IAMAccepted", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
		t.Setenv("AWS_SESSION_TOKEN", "")
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		r := mountRig(t, "iam", func(o *localtarget.Options) {
			o.RequireIAM = true
			o.IAMCredentials = map[string]string{"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
		})
		if _, err := os.ReadDir(r.mnt); err != nil {
			t.Fatalf("list an IAM mount: %v", err)
		}
	})
	t.Run("IAMMissingRefused", func(t *testing.T) {
		err := tryMount(t, "", func(o *localtarget.Options) {
			o.RequireIAM = true
			o.IAMCredentials = map[string]string{"AKIDEXAMPLE": "secret"}
		})
		if err == nil || !strings.Contains(err.Error(), "Failed to connect") {
			t.Fatalf("a mount without IAM: %v, want a refused connection", err)
		}
	})
}

// tryMount mounts a fresh target and reports the mount's error (nil if it
// mounted, after unmounting again).
func tryMount(t *testing.T, extraOpts string, topt func(*localtarget.Options)) error {
	t.Helper()
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export }, topt)
	optStr := "tls,cafile=" + tgt.CAFile() + ",region=us-east-1"
	if extraOpts != "" {
		optStr += "," + extraOpts
	}
	opts, err := mountopts.Parse(optStr)
	if err != nil {
		t.Fatal(err)
	}
	req := &mountopts.MountRequest{
		FSID: "fs-12345678", Path: "/", MountPoint: t.TempDir(), Options: opts,
		Target: mountopts.Target{DialAddr: tgt.Addr(), ServerName: tgt.ServerName(), DNSName: tgt.ServerName(), Region: "us-east-1"},
		Config: efsconfig.Default(), Logger: zaptest.NewLogger(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- (fusemount.Mounter{}).Mount(ctx, req, func() { close(ready) }) }()
	select {
	case err := <-done:
		return err
	case <-ready:
		cancel()
		<-done
		return nil
	}
}
