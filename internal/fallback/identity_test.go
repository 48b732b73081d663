package fallback

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/internal/detached"
	"github.com/efs-fuse/efs-fuse/internal/efsext"
	"github.com/efs-fuse/efs-fuse/internal/iamauth/iamauthtest"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/internal/testca"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

const testAP = "fsap-0123456789abcdef0"

// identityTunnelOptions are a tunnel to tgt that makes its own identity
// for the target's file system, writing its certificate under dir.
func identityTunnelOptions(t *testing.T, tgt *localtarget.Target, dir string) TunnelOptions {
	return TunnelOptions{
		Listen: "127.0.0.1:" + strconv.Itoa(freeRange(t, 1)), Target: tgt.Addr(), ServerName: tgt.ServerName(),
		CAFile: tgt.CAFile(), Verify: 2, FSID: localtarget.DefaultFSID, Region: localtarget.DefaultRegion,
		KeyFile: testca.ClientKeyFile(t), CertOut: filepath.Join(dir, "fs-12345678.mnt.1+", "certificate.pem"),
		LogFile: filepath.Join(dir, "tunnel.log"), LogLevel: "DEBUG",
	}
}

// startTunnel runs `efs-fuse tunnel` with o as a detached process (the test
// binary in helper mode) and waits until it accepts.
func startTunnel(t *testing.T, o TunnelOptions) detached.Process {
	t.Helper()
	t.Setenv(helperEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tun, err := detached.Start(TunnelArgv(exe, o), o.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopPID(t, tun.Pid())
		if t.Failed() {
			b, _ := os.ReadFile(o.LogFile)
			t.Logf("tunnel log:\n%s", b)
		}
	})
	if err := waitAccepting(t.Context(), portOf(t, o.Listen), tun, o.LogFile); err != nil {
		t.Fatal(err)
	}
	return tun
}

func portOf(t *testing.T, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// nfsThrough opens an NFSv4.1 session over plain TCP to the tunnel's local
// port, as the kernel client does; dials counts its connections.
func nfsThrough(ctx context.Context, t *testing.T, listen string, dials *atomic.Int32) (*nfsclient.Client, error) {
	c, err := nfsclient.Dial(ctx, nfsclient.Config{
		Dial: func(ctx context.Context) (net.Conn, error) {
			if dials != nil {
				dials.Add(1)
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", listen)
		},
		OwnerID: fmt.Sprintf("fallback-identity-test/%s/%d", t.Name(), time.Now().UnixNano()),
		Logger:  zaptest.NewLogger(t),
	})
	if err == nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.Close(ctx)
		})
	}
	return c, err
}

// roundTrip writes a file through c, reads it back and checks the export.
func roundTrip(t *testing.T, c *nfsclient.Client, export, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	root, _, err := c.LookupPath(ctx, rpc.Root, "/")
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Open(ctx, rpc.Root, nfsclient.OpenArgs{Dir: root, Name: name, Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseState(ctx, rpc.Root, o.FH, o.Stateid)
	data := []byte("through the fallback tunnel: " + name)
	if _, err := c.Write(ctx, rpc.Root, o.FH, o.Stateid, 0, data, nfsclient.FileSync); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, _, err := c.Read(ctx, rpc.Root, o.FH, o.Stateid, 0, buf)
	if err != nil || !bytes.Equal(buf[:n], data) {
		t.Fatalf("read back %q (%v), want %q", buf[:n], err, data)
	}
	if b, err := os.ReadFile(filepath.Join(export, name)); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("export holds %q (%v)", b, err)
	}
}

// certOnDisk parses the certificate the tunnel wrote.
func certOnDisk(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Errorf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
	}
}

// checkLogClean fails if the tunnel log holds key or certificate material.
func checkLogClean(t *testing.T, logFile string, secrets ...string) {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append([]string{"-----BEGIN", "PRIVATE KEY"}, secrets...) {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("tunnel log contains %q", s)
		}
	}
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

func logHas(t *testing.T, logFile, s string) bool {
	b, err := os.ReadFile(logFile)
	return err == nil && bytes.Contains(b, []byte(s))
}

// TestTunnelIdentityAccessPoint: against a target that requires an access
// point, a tunnel started with --fs-id --access-point relays a file round
// trip; its certificate (written 0600) carries the access point and is
// renewed on schedule, while the session opened before keeps its
// connection and a new session after the renewal is accepted too. Without
// --access-point the target refuses the tunnel's connections, and the
// tunnel logs it.
func TestTunnelIdentityAccessPoint(t *testing.T) {
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir, o.RequireAccessPoint = export, testAP })
	dir := t.TempDir()
	o := identityTunnelOptions(t, tgt, dir)
	o.AccessPoint = testAP
	o.CertRenewal = 300 * time.Millisecond
	startTunnel(t, o)

	var dials atomic.Int32
	c1, err := nfsThrough(t.Context(), t, o.Listen, &dials)
	if err != nil {
		t.Fatalf("NFS session through the tunnel: %v", err)
	}
	roundTrip(t, c1, export, "ap-before")

	checkMode(t, o.CertOut, 0o600)
	checkMode(t, filepath.Dir(o.CertOut), 0o700)
	first := certOnDisk(t, o.CertOut)
	id, err := efsext.Decode(first)
	if err != nil || id.AccessPoint != testAP || id.FileSystemID != localtarget.DefaultFSID || id.IAM != nil {
		t.Fatalf("certificate identity %+v (%v)", id, err)
	}
	waitUntil(t, 5*time.Second, "certificate renewed", func() bool {
		return certOnDisk(t, o.CertOut).SerialNumber.Cmp(first.SerialNumber) != 0
	})
	roundTrip(t, c1, export, "ap-during")
	if n, st := dials.Load(), c1.Stats(); n != 1 || st.Reconnects != 0 {
		t.Errorf("the session opened before renewal reconnected (%d dials, %+v)", n, st)
	}
	c2, err := nfsThrough(t.Context(), t, o.Listen, nil)
	if err != nil {
		t.Fatalf("new NFS session after renewal: %v", err)
	}
	roundTrip(t, c2, export, "ap-after")
	checkLogClean(t, o.LogFile)

	t.Run("WithoutAccessPoint", func(t *testing.T) {
		o := identityTunnelOptions(t, tgt, t.TempDir())
		startTunnel(t, o)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := nfsThrough(ctx, t, o.Listen, nil); err == nil {
			t.Fatal("the target accepted a session without the access point it requires")
		}
		waitUntil(t, 5*time.Second, "refusal logged by the tunnel", func() bool {
			return logHas(t, o.LogFile, "the mount target refused the client certificate")
		})
	})
}

// TestTunnelIdentityIAM: against a target that verifies IAM signatures, a
// tunnel started with --iam --awsprofile signs its certificate with that
// profile's credentials and relays a file round trip; credentials the
// target does not know are refused.
func TestTunnelIdentityIAM(t *testing.T) {
	iamauthtest.Isolate(t)
	good := iamauthtest.Creds{AccessKeyID: "AKIAFALLBACKTEST", SecretAccessKey: "fallback/secret+key"}
	credsFile := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(credsFile, []byte("[efs-good]\naws_access_key_id = "+good.AccessKeyID+"\naws_secret_access_key = "+good.SecretAccessKey+
		"\n[efs-bad]\naws_access_key_id = "+good.AccessKeyID+"\naws_secret_access_key = not-the-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", credsFile) // inherited by the tunnel process
	export := t.TempDir()
	tgt := testtarget.Start(t, func(o *localtarget.Options) {
		o.ExportDir, o.RequireIAM = export, true
		o.IAMCredentials = map[string]string{good.AccessKeyID: good.SecretAccessKey}
	})
	o := identityTunnelOptions(t, tgt, t.TempDir())
	o.IAM, o.AWSProfile = true, "efs-good"
	startTunnel(t, o)
	c, err := nfsThrough(t.Context(), t, o.Listen, nil)
	if err != nil {
		t.Fatalf("NFS session through the IAM tunnel: %v", err)
	}
	roundTrip(t, c, export, "iam")
	if id, err := efsext.Decode(certOnDisk(t, o.CertOut)); err != nil || id.IAM == nil || id.IAM.AccessKeyID != good.AccessKeyID {
		t.Fatalf("certificate identity %+v (%v)", id, err)
	}
	checkLogClean(t, o.LogFile, good.SecretAccessKey)

	t.Run("WrongSecret", func(t *testing.T) {
		o := identityTunnelOptions(t, tgt, t.TempDir())
		o.IAM, o.AWSProfile = true, "efs-bad"
		startTunnel(t, o)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := nfsThrough(ctx, t, o.Listen, nil); err == nil {
			t.Fatal("the target accepted a signature made with the wrong secret")
		}
		waitUntil(t, 5*time.Second, "refusal logged by the tunnel", func() bool {
			return logHas(t, o.LogFile, "the mount target refused the client certificate")
		})
	})
	t.Run("NoSuchProfile", func(t *testing.T) {
		// The tunnel's own start fails with FUSE mode's message (Mount
		// checks this before starting one: TestMountBadIAMFailsEarly).
		o := identityTunnelOptions(t, tgt, t.TempDir())
		o.IAM, o.AWSProfile = true, "no-such-profile"
		err := RunTunnel(t.Context(), o, zaptest.NewLogger(t))
		if err == nil || !strings.Contains(err.Error(), "Failed to set up IAM authorization") {
			t.Fatalf("RunTunnel = %v", err)
		}
	})
}

// TestTunnelIdentityRenewal watches the serial of the certificate each new
// upstream connection presents: a renewal (on schedule, or forced by
// SIGHUP) changes it for new connections, the certificate file follows, and
// a connection opened before keeps relaying.
func TestTunnelIdentityRenewal(t *testing.T) {
	ca, srv := startTargetCA(t)
	for name, c := range map[string]struct {
		every  time.Duration
		renew  func(t *testing.T, tun detached.Process)
		within time.Duration
	}{
		"Scheduled": {300 * time.Millisecond, func(*testing.T, detached.Process) {}, 5 * time.Second},
		// An hour: only the signal can renew within the test.
		"SIGHUP": {time.Hour, func(t *testing.T, tun detached.Process) {
			if err := syscall.Kill(tun.Pid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}, 3 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := TunnelOptions{Listen: "127.0.0.1:" + strconv.Itoa(freeRange(t, 1)), Target: srv.addr, ServerName: serverName,
				CAFile: ca.CertFile(), Verify: 2, FSID: "fs-12345678", KeyFile: testca.ClientKeyFile(t), CertRenewal: c.every,
				CertOut: filepath.Join(dir, "x+", "certificate.pem"), LogFile: filepath.Join(dir, "tunnel.log")}
			tun := startTunnel(t, o)
			old, first := srv.connect(t, o.Listen)
			if disk := certOnDisk(t, o.CertOut).SerialNumber; disk.Cmp(first) != 0 {
				t.Fatalf("file holds serial %x, the connection presented %x", disk, first)
			}
			c.renew(t, tun)
			var renewed *big.Int
			waitUntil(t, c.within, "a new connection presenting a renewed certificate", func() bool {
				conn, s := srv.connect(t, o.Listen)
				conn.Close()
				if s.Cmp(first) != 0 {
					renewed = s
					return true
				}
				return false
			})
			waitUntil(t, 2*time.Second, "certificate file renewed", func() bool {
				return certOnDisk(t, o.CertOut).SerialNumber.Cmp(first) != 0
			})
			echo(t, old, "still relaying after renewal")
			if tun.Exited() {
				t.Fatal("renewal ended the tunnel")
			}
			t.Logf("serial %x, then %x", first, renewed)
		})
	}
}

// startTargetCA makes a test CA and starts a peerServer for serverName
// with a certificate it issued; client certificates are required (any).
func startTargetCA(t *testing.T) (*testca.CA, *peerServer) {
	t.Helper()
	ca, err := testca.LoadOrCreate(filepath.Join(t.TempDir(), "ca"), "test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.Issue(testca.Leaf{DNSNames: []string{serverName}})
	if err != nil {
		t.Fatal(err)
	}
	return ca, startPeerServer(t, &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tls.RequireAnyClientCert})
}

// peerServer is a TLS echo server that reports each client certificate it
// is presented.
type peerServer struct {
	addr string
	seen chan *x509.Certificate
}

func startPeerServer(t *testing.T, cfg *tls.Config) *peerServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &peerServer{addr: ln.Addr().String(), seen: make(chan *x509.Certificate, 64)}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.Handshake() != nil {
					return
				}
				_ = c.SetDeadline(time.Time{})
				if pc := tc.ConnectionState().PeerCertificates; len(pc) > 0 {
					s.seen <- pc[0]
				}
				_, _ = io.Copy(tc, tc)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return s
}

// connect opens a connection through the tunnel at listen, checks it
// echoes, and returns it with the serial the server saw.
func (s *peerServer) connect(t *testing.T, listen string) (net.Conn, *big.Int) {
	t.Helper()
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	echo(t, c, "hello")
	select {
	case cert := <-s.seen:
		return c, cert.SerialNumber
	case <-time.After(5 * time.Second):
		t.Fatal("server saw no client certificate")
		return nil, nil
	}
}

func echo(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q: got %q, %v", msg, buf, err)
	}
}

// TestMountFlowIdentity: Mount (mount.nfs4 scripted as an NFS session
// through the tunnel) of an access point against a target that requires
// it: the tunnel argv carries the identity flags, the state records the
// certificate it writes (0600) and lists its directory for clean-up.
func TestMountFlowIdentity(t *testing.T) {
	var port int
	e := newFlowWith(t, kernelLike(t, &port), ",accesspoint="+testAP,
		func(o *localtarget.Options) { o.RequireAccessPoint = testAP })
	e.req.Config.Watchdog.TLSCertRenewalIntervalMin = 30
	if err := e.m.Mount(context.Background(), e.req); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	name := mountstate.FallbackFileName(e.req.FSID, e.req.MountPoint, port)
	st, err := mountstate.ReadFallback(filepath.Join(e.stateDir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPID(t, st.PID) })
	certDir := mountstate.CertDir(e.stateDir, name)
	if want := filepath.Join(certDir, "certificate.pem"); st.Certificate != want || st.PrivateKey != e.m.KeyFile {
		t.Errorf("state certificate %q key %q, want %q and %q", st.Certificate, st.PrivateKey, want, e.m.KeyFile)
	}
	if len(st.Files) != 2 || st.Files[1] != certDir {
		t.Errorf("state files %q do not list the certificate directory %s", st.Files, certDir)
	}
	checkMode(t, st.Certificate, 0o600)
	if id, err := efsext.Decode(certOnDisk(t, st.Certificate)); err != nil || id.AccessPoint != testAP {
		t.Errorf("certificate identity %+v (%v)", id, err)
	}
	var got TunnelOptions
	fs := flagSet(&got)
	if err := fs.Parse(st.Cmd[2:]); err != nil {
		t.Fatal(err)
	}
	want := TunnelOptions{FSID: e.req.FSID, AccessPoint: testAP, Region: "us-east-1", KeyFile: e.m.KeyFile,
		CertRenewal: 30 * time.Minute, CertOut: st.Certificate}
	if got.FSID != want.FSID || got.AccessPoint != want.AccessPoint || got.IAM || got.Region != want.Region ||
		got.KeyFile != want.KeyFile || got.CertRenewal != want.CertRenewal || got.CertOut != want.CertOut || got.CertFile != "" {
		t.Errorf("tunnel argv %q\nparses to %+v\nwant identity %+v", st.Cmd, got, want)
	}
}

// TestMountBadIAMFailsEarly: a mount whose IAM credentials cannot be set
// up fails with FUSE mode's message before any tunnel or port claim.
func TestMountBadIAMFailsEarly(t *testing.T) {
	iamauthtest.Isolate(t)
	e := newFlowWith(t, func(context.Context, []string) (string, error) {
		return "", errors.New("mount.nfs4 must not run")
	}, ",iam,awsprofile=no-such-profile", nil)
	e.m.Start = func([]string, string) (detached.Process, error) {
		t.Error("a tunnel was started")
		return nil, errors.New("no")
	}
	err := e.m.Mount(context.Background(), e.req)
	if err == nil || !strings.HasPrefix(err.Error(), "Failed to set up IAM authorization: ") {
		t.Fatalf("Mount = %v", err)
	}
	assertNoClaims(t, e.stateDir)
}
