package e2e

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/fusemount"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// TestMountNetNS mounts, in FUSE mode with netns=, a target that only the
// namespace can reach (a relay listening on the namespace's loopback), with
// and without TLS, and moves a file through it.
func TestMountNetNS(t *testing.T) {
	path := newNetNS(t) // before any mount: no fork while our mount is open
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	for name, c := range map[string]struct{ opts, target string }{
		"TLS":   {"tls,cafile=" + tgt.CAFile(), tgt.Addr()},
		"NoTLS": {"notls", tgt.NFSAddr()},
	} {
		t.Run(name, func(t *testing.T) {
			addr, relayed := forwardFromNetNS(t, path, c.target)
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
	return mnt
}

// newNetNS returns the network namespace file of a fresh namespace with its
// loopback up, kept alive by an `unshare --net sleep` child until the test
// ends.
func newNetNS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating and joining a network namespace needs root")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	cmd := exec.Command("unshare", "--net", "sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	path := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/ns/net"
	self, _ := os.Readlink("/proc/thread-self/ns/net")
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if ns, err := os.Readlink(path); err == nil && ns != self {
			break
		}
		if time.Now().After(end) {
			t.Fatal("unshare --net did not make a namespace")
		}
	}
	// ip link set lo up, without needing iproute2.
	err := tunnel.InNetNS(path, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq("lo")
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return err
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	})
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// forwardFromNetNS listens on the loopback of the namespace at path and
// relays each connection to target, dialled from the test's namespace:
// the target is then at addr only from inside the namespace. n counts
// the connections relayed.
func forwardFromNetNS(t *testing.T, path, target string) (addr string, n *atomic.Int32) {
	t.Helper()
	var ln net.Listener
	if err := tunnel.InNetNS(path, func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	n = new(atomic.Int32)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			wg.Go(func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			})
		}
	})
	addr = ln.Addr().String()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s answers in the test's own namespace too: the test would prove nothing", addr)
	}
	return addr, n
}
