package fusemount

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// request is a mount request for the local target's file system at addr.
func request(t *testing.T, addr, opts string) *mountopts.MountRequest {
	t.Helper()
	o, err := mountopts.Parse(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &mountopts.MountRequest{FSID: localtarget.DefaultFSID, Path: "/", Options: o,
		Target: mountopts.Target{DNSName: "fs-12345678.efs.us-east-1.amazonaws.com", DialAddr: addr}}
}

// dialSession brings up a session as Mount does and returns its error.
func dialSession(t *testing.T, timeout time.Duration, dial func(context.Context) (net.Conn, error)) (*nfsclient.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := nfsclient.Dial(ctx, nfsclient.Config{Dial: dial, OwnerID: "efs-fuse/errors-test/" + t.Name(), Logger: zaptest.NewLogger(t)})
	if c != nil {
		t.Cleanup(func() { _ = c.Close(context.Background()) })
	}
	return c, err
}

func plainDial(addr string) func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

// TestConnectErrorWording makes each failure really happen against the
// local target (or a silent listener) and checks what the user reads.
func TestConnectErrorWording(t *testing.T) {
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.RequireAccessPoint = "fsap-0123456789abcdef0" })

	t.Run("PlainNFSToTLSPort", func(t *testing.T) {
		req := request(t, tgt.Addr(), "mounttargetport=2049")
		_, err := dialSession(t, 10*time.Second, plainDial(tgt.Addr()))
		if !errors.Is(rpc.ClosedBy(err), rpc.ErrRecordTooLarge) {
			t.Fatalf("plain NFS to the TLS port: %v, want the record limit to trip", err)
		}
		got := connectError(req, err).Error()
		want := "Failed to connect to fs-12345678.efs.us-east-1.amazonaws.com (" + tgt.Addr() +
			"): the server answered with something that is not NFS: if this is a TLS port, add -o tls"
		if got != want {
			t.Errorf("\n got %s\nwant %s", got, want)
		}
	})

	t.Run("ClientCertificateRefused", func(t *testing.T) {
		ident, err := tunnel.NewIdentity(context.Background(), tunnel.IdentityConfig{
			FSID: localtarget.DefaultFSID, KeyPath: filepath.Join(t.TempDir(), "key.pem"), Version: "test"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := tunnel.NewConfig(tgt.Addr(), tgt.ServerName())
		cfg.CAFile, cfg.ClientCertificate = tgt.CAFile(), ident.Certificate
		d, err := tunnel.NewDialer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		req := request(t, tgt.Addr(), "tls")
		_, err = dialSession(t, 10*time.Second, d.DialContext)
		if err == nil {
			t.Fatal("a certificate without the required access point was accepted")
		}
		got := connectError(req, err).Error()
		if !strings.HasSuffix(got, "): the mount target refused our client certificate: check that the access point "+
			"(accesspoint=) and the IAM identity (iam) are allowed to mount this file system") {
			t.Errorf("got %s (from %v)", got, err)
		}
	})

	t.Run("NoSuchPath", func(t *testing.T) {
		c, err := dialSession(t, 10*time.Second, plainDial(tgt.NFSAddr()))
		if err != nil {
			t.Fatal(err)
		}
		req := request(t, tgt.NFSAddr(), "")
		req.Path = "/no/such/dir"
		_, _, err = c.LookupPath(context.Background(), rpc.Root, req.Path)
		if got := lookupError(req, err).Error(); got != "Failed to mount fs-12345678:/no/such/dir: No such file or directory" {
			t.Errorf("got %s (from %v)", got, err)
		}
	})
}

// TestSilentServerWording: a server that accepts and never answers fails
// the mount with "no answer", not a deadline or a refusal, in both modes.
func TestSilentServerWording(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	want := "Failed to connect to fs-12345678.efs.us-east-1.amazonaws.com (" + addr +
		"): no answer from the server: check that the mount target is up and that its security group lets this host reach port 2049"

	_, err = dialSession(t, 300*time.Millisecond, plainDial(addr))
	if got := connectError(request(t, addr, ""), err).Error(); got != want {
		t.Errorf("plain:\n got %s\nwant %s\n(from %v)", got, want, err)
	}

	cfg := tunnel.NewConfig(addr, "fs-12345678.efs.us-east-1.amazonaws.com")
	cfg.DialTimeout = 300 * time.Millisecond
	d, err := tunnel.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dialSession(t, 10*time.Second, d.DialContext)
	if got := connectError(request(t, addr, "tls"), err).Error(); got != want {
		t.Errorf("TLS:\n got %s\nwant %s\n(from %v)", got, want, err)
	}
}

// TestFusermountReason: go-fuse's "fusermount exited with code 256\n"
// becomes fusermount3's own reason, captured from stderr, on one line.
func TestFusermountReason(t *testing.T) {
	stderr, err := captureStderr(func() error {
		cmd := exec.Command("sh", "-c", `echo "/usr/bin/fusermount3: user has no write access to mountpoint /mnt/x" >&2; exit 1`)
		cmd.Stderr = stdErrFile()
		if cmd.Run() == nil {
			t.Fatal("sh did not fail")
		}
		return errors.New("fusefs: mount /mnt/x: fusermount exited with code 256\n")
	})
	got := fusermountError("/mnt/x", stderr, err).Error()
	if want := "Failed to mount at /mnt/x: fusermount3: user has no write access to mountpoint /mnt/x"; got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
	got = fusermountError("/mnt/x", "", err).Error()
	if want := "Failed to mount at /mnt/x: fusermount3 failed without saying why (fusefs: mount /mnt/x: fusermount exited with code 256)"; got != want {
		t.Errorf("\n got %q\nwant %q", got, want)
	}
}

// stdErrFile is fd 2 as go-fuse passes it to fusermount3 (os.Stderr).
func stdErrFile() *os.File { return os.Stderr }
