package fallback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/detached"
	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/internal/netnstest"
	"github.com/efs-fuse/efs-fuse/internal/testca"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// helperEnv makes the test binary act as `efs-fuse tunnel`: the mount flow
// starts it as its tunnel, so the real RunTunnel runs in a real detached
// child process from the argv the state file records.
const helperEnv = "EFS_FUSE_FALLBACK_TEST_TUNNEL"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		os.Exit(runHelperTunnel(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func runHelperTunnel(args []string) int {
	if len(args) == 0 || args[0] != "tunnel" {
		fmt.Fprintf(os.Stderr, "helper: want tunnel ARGS, got %q\n", args)
		return 2
	}
	var o TunnelOptions
	fs := pflag.NewFlagSet("tunnel", pflag.ContinueOnError)
	TunnelFlags(fs, &o)
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	log, closeLog, err := NewTunnelLogger(o, 1<<20, 2)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer closeLog()
	if err := RunTunnel(context.Background(), o, log); err != nil {
		log.Error(err.Error())
		return 1
	}
	return 0
}

type flowEnv struct {
	tgt      *localtarget.Target
	req      *mountopts.MountRequest
	m        *Mounter
	stateDir string
	logs     *observer.ObservedLogs
}

// newFlow prepares a TLS mount request for a local target, with the test
// binary as the tunnel executable and the exec of mount.nfs4 scripted.
func newFlow(t *testing.T, exec ExecFunc) *flowEnv {
	return newFlowWith(t, exec, "", nil)
}

// newFlowWith is newFlow with more mount options (",accesspoint=...") and
// target options.
func newFlowWith(t *testing.T, exec ExecFunc, moreOpts string, target func(*localtarget.Options)) *flowEnv {
	t.Helper()
	t.Setenv(helperEnv, "1") // inherited by the tunnel child only; TestMain already ran
	tgt := testtarget.Start(t, func(o *localtarget.Options) {
		o.ExportDir = t.TempDir()
		if target != nil {
			target(o)
		}
	})
	stateDir := filepath.Join(t.TempDir(), "run-efs")
	req := request(t, "tls,fallback,cafile="+tgt.CAFile()+",mounttargetip=127.0.0.1"+moreOpts)
	req.MountPoint = t.TempDir()
	req.StateDir = stateDir
	req.FSID = localtarget.DefaultFSID
	req.Target = mountopts.Target{DNSName: tgt.ServerName(), ServerName: tgt.ServerName(), DialAddr: tgt.Addr(), Region: "us-east-1"}
	cfg := efsconfig.Default()
	base := freeRange(t, 8)
	cfg.Mount.PortRangeLowerBound, cfg.Mount.PortRangeUpperBound = base, base+8
	req.Config = cfg
	core, logs := observer.New(zapcore.DebugLevel)
	req.Logger = zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m := &Mounter{Exe: exe, Exec: exec, Retry: Retry{Sleep: func(context.Context) {}}, KeyFile: testca.ClientKeyFile(t), Version: "test"}
	return &flowEnv{tgt: tgt, req: req, m: m, stateDir: stateDir, logs: logs}
}

// kernelLike stands in for mount.nfs4: it checks the argv and does what the
// kernel client does at mount time, an NFSv4.1 session over plain TCP to
// 127.0.0.1:port, looking up the path.
func kernelLike(t *testing.T, gotPort *int) ExecFunc {
	return func(ctx context.Context, argv []string) (string, error) {
		opts := argv[len(argv)-1]
		i := strings.LastIndex(opts, ",port=")
		if argv[0] != "mount.nfs4" || argv[1] != "127.0.0.1:/" || i < 0 {
			return "bad argv", fmt.Errorf("unexpected argv %q", argv)
		}
		port, _ := strconv.Atoi(opts[i+len(",port="):])
		*gotPort = port
		c, err := nfsclient.Dial(ctx, nfsclient.Config{
			Dial: func(ctx context.Context) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			},
			OwnerID: "fallback-test/" + t.Name(),
		})
		if err != nil {
			return "mount.nfs4: Connection reset by peer", err
		}
		defer c.Close(context.Background())
		_, _, err = c.LookupPath(ctx, rpc.Root, "/")
		return "", err
	}
}

func TestMountFlowWithRealTunnel(t *testing.T) {
	var port int
	e := newFlow(t, kernelLike(t, &port))
	if err := e.m.Mount(context.Background(), e.req); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	want := "Successfully mounted " + e.req.Target.DNSName + " at " + e.req.MountPoint
	if e.logs.FilterMessage(want).Len() != 1 {
		t.Errorf("log lacks %q", want)
	}
	name := mountstate.FallbackFileName(e.req.FSID, e.req.MountPoint, port)
	st, err := mountstate.ReadFallback(filepath.Join(e.stateDir, name))
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	t.Cleanup(func() { stopPID(t, st.PID) })
	if _, err := os.Stat(filepath.Join(e.stateDir, "~"+name)); !os.IsNotExist(err) {
		t.Errorf("temporary state file left behind: %v", err)
	}
	if st.Port != port || st.PID <= 0 || st.Mode != mountstate.ModeFallback || st.FSID != localtarget.DefaultFSID || st.MountPoint != e.req.MountPoint {
		t.Errorf("state = %+v", st)
	}
	if !strings.Contains(strings.Join(st.Cmd, " "), " tunnel --listen 127.0.0.1:"+strconv.Itoa(port)+" --target "+e.tgt.Addr()) {
		t.Errorf("state cmd %q does not restart the tunnel", st.Cmd)
	}
	// The tunnel is in its own session, detached from ours.
	if sid, err := unix.Getsid(st.PID); err != nil || sid != st.PID {
		t.Errorf("tunnel session id %d (%v), want its own (%d)", sid, err, st.PID)
	}
	// A second mount of the same target on another mount point takes another port.
	var port2 int
	e.req.MountPoint = t.TempDir()
	e.m.Exec = kernelLike(t, &port2)
	if err := e.m.Mount(context.Background(), e.req); err != nil {
		t.Fatalf("second Mount: %v", err)
	}
	st2, err := mountstate.ReadFallback(filepath.Join(e.stateDir, mountstate.FallbackFileName(e.req.FSID, e.req.MountPoint, port2)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPID(t, st2.PID) })
	if port2 == port {
		t.Errorf("second mount reused port %d", port)
	}
	// SIGTERM (what the watchdog sends after unmount) ends the tunnel.
	stopPID(t, st.PID)
}

func TestMountFlowFailureCleansUp(t *testing.T) {
	var pid int
	e := newFlow(t, nil)
	e.m.Exec = func(ctx context.Context, argv []string) (string, error) {
		pid = tunnelPIDFromTemp(t, e.stateDir)
		if dirs, _ := filepath.Glob(filepath.Join(e.stateDir, "fs-*+", "certificate.pem")); len(dirs) != 1 {
			t.Errorf("certificate files during mount.nfs4: %v, want one", dirs)
		}
		return "mount.nfs4: access denied by server", errors.New("exit status 32")
	}
	err := e.m.Mount(context.Background(), e.req)
	if err == nil || !strings.Contains(err.Error(), "Failed to mount") {
		t.Fatalf("Mount = %v, want the mount.nfs4 failure", err)
	}
	if pid <= 0 {
		t.Fatal("no tunnel was running during mount.nfs4")
	}
	if dirs, _ := filepath.Glob(filepath.Join(e.stateDir, "fs-*+")); len(dirs) != 0 {
		t.Errorf("certificate directories left after the failed mount: %v", dirs)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("tunnel %d still exists after the failed mount (kill 0: %v)", pid, err)
	}
	assertNoClaims(t, e.stateDir)
}

func TestMountFlowTunnelDiesEarly(t *testing.T) {
	e := newFlow(t, func(context.Context, []string) (string, error) {
		return "", errors.New("mount.nfs4 must not run without a tunnel")
	})
	e.req.Target.DialAddr = "no-port" // the tunnel refuses this address and exits
	err := e.m.Mount(context.Background(), e.req)
	if err == nil || !strings.Contains(err.Error(), "tunnel process exited before accepting") {
		t.Fatalf("Mount = %v", err)
	}
	assertNoClaims(t, e.stateDir)
}

// tunnelPIDFromTemp reads the tunnel pid from the one ~ state file in dir.
func tunnelPIDFromTemp(t *testing.T, dir string) int {
	matches, _ := filepath.Glob(filepath.Join(dir, "~fs-*"))
	if len(matches) != 1 {
		t.Errorf("temp state files during mount: %v, want one", matches)
		return 0
	}
	st, err := mountstate.ReadFallback(matches[0])
	if err != nil {
		t.Error(err)
		return 0
	}
	return st.PID
}

// stopPID sends SIGTERM and waits for the tunnel to exit (it is our child).
func stopPID(t *testing.T, pid int) {
	t.Helper()
	p := detached.FromPID(pid)
	start := time.Now()
	if err := p.Stop(); err != nil {
		t.Errorf("stop tunnel: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("tunnel took %v to stop on SIGTERM", time.Since(start))
	}
}

// assertNoClaims checks that no state file (final or ~) is left to claim a
// port. The tunnel log stays, for the diagnosis the error points to.
func assertNoClaims(t *testing.T, dir string) {
	t.Helper()
	claimed, err := claimedPorts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 0 {
		t.Errorf("state files left after a failed mount: %v", claimed)
	}
}

// flagSet is a tunnel flag set writing into o.
func flagSet(o *TunnelOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("tunnel", pflag.ContinueOnError)
	TunnelFlags(fs, o)
	return fs
}

// TestMountFlowNoTLS: without TLS, fallback mode mounts the target itself,
// as the kernel client would without the helper: mount.nfs4 names the
// target's host (the DNS name, or mounttargetip) with no tunnel port, no
// tunnel is started, and nothing goes in the state directory (there is no
// tunnel for the watchdog to supervise). The helper's success line is
// logged (the warning about clear text is the command's, to stderr too).
func TestMountFlowNoTLS(t *testing.T) {
	noTunnel := func(t *testing.T, m *Mounter) {
		m.Start = func(argv []string, _ string) (detached.Process, error) {
			t.Errorf("a tunnel was started without TLS: %q", argv)
			return nil, errors.New("no tunnel without TLS")
		}
	}
	check := func(t *testing.T, req *mountopts.MountRequest, logs *observer.ObservedLogs) {
		t.Helper()
		want := "Successfully mounted " + req.Target.DNSName + " at " + req.MountPoint
		if logs.FilterMessage(want).Len() != 1 {
			t.Errorf("log lacks %q", want)
		}
		ents, err := os.ReadDir(req.StateDir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		if len(ents) != 0 {
			t.Errorf("state directory holds %v after a mount without TLS, want nothing", ents)
		}
	}

	t.Run("DNSName", func(t *testing.T) {
		req := request(t, "notls,fallback,soft")
		req.MountPoint, req.StateDir = t.TempDir(), filepath.Join(t.TempDir(), "run-efs")
		core, logs := observer.New(zapcore.DebugLevel)
		req.Logger = zap.New(core)
		var got []string
		m := &Mounter{Exec: func(_ context.Context, argv []string) (string, error) {
			got = argv
			return "", nil
		}}
		noTunnel(t, m)
		if err := m.Mount(context.Background(), req); err != nil {
			t.Fatalf("Mount: %v", err)
		}
		want := []string{"mount.nfs4", dns + ":/", req.MountPoint, "-o",
			"soft,nfsvers=4.1,rsize=1048576,wsize=1048576,timeo=600,retrans=2,noresvport"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("mount.nfs4 argv = %q, want %q", got, want)
		}
		check(t, req, logs)
	})

	// The local target's NFS server in plain TCP (no TLS front end): the
	// scripted mount.nfs4 connects where its argv says and opens a session,
	// so the argv provably reaches the server itself.
	t.Run("LocalTargetPlain", func(t *testing.T) {
		tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = t.TempDir() })
		host, nfsPort, err := net.SplitHostPort(tgt.NFSAddr())
		if err != nil {
			t.Fatal(err)
		}
		req := request(t, "notls,fallback,mounttargetip="+host+",mounttargetport="+nfsPort)
		req.MountPoint, req.StateDir = t.TempDir(), filepath.Join(t.TempDir(), "run-efs")
		core, logs := observer.New(zapcore.DebugLevel)
		req.Logger = zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
		var dialled string
		m := &Mounter{Exec: func(ctx context.Context, argv []string) (string, error) {
			opts := argv[len(argv)-1]
			i := strings.LastIndex(opts, ",port=")
			if argv[0] != "mount.nfs4" || argv[1] != host+":/" || i < 0 {
				return "bad argv", fmt.Errorf("unexpected argv %q", argv)
			}
			dialled = net.JoinHostPort(host, opts[i+len(",port="):])
			c, err := nfsclient.Dial(ctx, nfsclient.Config{
				Dial: func(ctx context.Context) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, "tcp", dialled)
				},
				OwnerID: "fallback-test/" + t.Name(),
			})
			if err != nil {
				return "mount.nfs4: Connection refused", err
			}
			defer c.Close(context.Background())
			_, _, err = c.LookupPath(ctx, rpc.Root, "/")
			return "", err
		}}
		noTunnel(t, m)
		if err := m.Mount(context.Background(), req); err != nil {
			t.Fatalf("Mount: %v", err)
		}
		if dialled != tgt.NFSAddr() {
			t.Errorf("mount.nfs4 went to %s, want the NFS server at %s", dialled, tgt.NFSAddr())
		}
		check(t, req, logs)
	})
}

// TestMountFlowNetNS: with netns= the tunnel process reaches a target that
// only the namespace can reach, while mount.nfs4 still connects to the
// tunnel on the host's loopback, and the state file restarts the tunnel
// with --netns.
func TestMountFlowNetNS(t *testing.T) {
	path := netnstest.New(t, true)
	var port int
	e := newFlowWith(t, kernelLike(t, &port), ",netns="+path, nil)
	addr, relayed := netnstest.Forward(t, path, e.tgt.Addr())
	e.req.Target.DialAddr = addr
	if err := e.m.Mount(context.Background(), e.req); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	st, err := mountstate.ReadFallback(filepath.Join(e.stateDir, mountstate.FallbackFileName(e.req.FSID, e.req.MountPoint, port)))
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	t.Cleanup(func() { stopPID(t, st.PID) })
	if relayed.Load() == 0 {
		t.Error("the mount succeeded without a connection through the namespace")
	}
	if !strings.Contains(strings.Join(st.Cmd, " "), " --target "+addr+" ") || !strings.Contains(strings.Join(st.Cmd, " "), " --netns "+path+" ") {
		t.Errorf("state cmd %q does not restart the tunnel in namespace %s", st.Cmd, path)
	}
}

func TestMountNetNSBadPath(t *testing.T) {
	for _, opts := range []string{"tls,fallback,netns=/nonexistent/ns/net", "notls,fallback,netns=/nonexistent/ns/net"} {
		req := request(t, opts)
		req.MountPoint, req.StateDir = t.TempDir(), filepath.Join(t.TempDir(), "run-efs")
		m := &Mounter{
			Start: func(argv []string, _ string) (detached.Process, error) {
				t.Errorf("%s: a tunnel was started: %q", opts, argv)
				return nil, errors.New("no tunnel")
			},
			Exec: func(_ context.Context, argv []string) (string, error) {
				t.Errorf("%s: mount.nfs4 was run: %q", opts, argv)
				return "", errors.New("no mount")
			},
		}
		err := m.Mount(context.Background(), req)
		if want := "network namespace /nonexistent/ns/net: open /nonexistent/ns/net: no such file or directory"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Mount = %v, want %q", opts, err, want)
		}
	}
}

// TestMountNFSInNetNS: without TLS the kernel client connects to the target
// itself, from the namespace mount.nfs4 runs in: the netns= one, as under
// the helper's nsenter; with TLS it stays in ours, next to the tunnel.
func TestMountNFSInNetNS(t *testing.T) {
	path := netnstest.New(t, true)
	inside, err := os.Readlink(path)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Readlink("/proc/thread-self/ns/net")
	for opts, want := range map[string]string{"notls,netns=" + path: inside, "tls,netns=" + path: host, "notls": host} {
		stderr, err := inNetNS(request(t, opts), Exec)(context.Background(), []string{"sh", "-c", "readlink /proc/self/ns/net >&2"})
		if err != nil {
			t.Fatalf("%s: %v (%s)", opts, err, stderr)
		}
		if got := strings.TrimSpace(stderr); got != want {
			t.Errorf("%s: mount.nfs4 would run in %s, want %s", opts, got, want)
		}
	}
}

// TestMountLogsSecurityWarnings: a fallback mount with iam and verify=0,
// or with ocsp, says in the log what that does not protect before it
// mounts (here it then fails on a bad netns=, which is after the warnings).
func TestMountLogsSecurityWarnings(t *testing.T) {
	req := request(t, "tls,fallback,iam,verify=0,ocsp,netns=/nonexistent/ns/net")
	req.MountPoint, req.StateDir = t.TempDir(), filepath.Join(t.TempDir(), "run-efs")
	core, logs := observer.New(zapcore.WarnLevel)
	req.Logger = zap.New(core)
	_ = (&Mounter{}).Mount(context.Background(), req)
	for _, want := range []string{`"iam" with "verify=0"`, `"ocsp" is accepted for compatibility`} {
		if logs.FilterMessageSnippet(want).Len() != 1 {
			t.Errorf("no warning saying %q; logged: %v", want, logs.All())
		}
	}
}
