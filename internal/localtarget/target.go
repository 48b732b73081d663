// Package localtarget runs an EFS-like mount target on this machine:
// nfs-ganesha (NFSv4.1 only, FSAL VFS) on a private loopback port, behind a
// TLS front end whose certificate carries the EFS name
// (fs-12345678.efs.us-east-1.amazonaws.com) and is signed by a CA kept in the
// state directory. efs-fuse mounts it through the same code path as real EFS,
// with cafile= and mounttargetip=127.0.0.1.
//
// It only ever listens on loopback: the export is read-write, AUTH_SYS,
// no_root_squash.
package localtarget

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/internal/testca"
)

// Target is a running local mount target.
type Target struct {
	// Constant after Start.
	opts       Options
	serverName string
	caFile     string
	log        *zap.Logger
	front      *frontEnd
	nfsAddr    string // ganesha's loopback address; a restart keeps the port
	faults     faults // black hole and delay, applied by the front end's hooks

	// stateLock holds the state directory's lock until Close.
	stateLock *os.File

	done      chan struct{}
	doneOnce  sync.Once
	closing   atomic.Bool
	current   atomic.Pointer[ganesha] // the adopted (ready) ganesha; failed attempts never are
	closeOnce sync.Once
	closeErr  error

	// restartMu serialises RestartGanesha and Close's stop of ganesha;
	// life ends on Close so a restart in progress gives up promptly.
	restartMu sync.Mutex
	lastEpoch int64 // ganesha epoch of the last launch; under restartMu after Start
	life      context.Context
	endLife   context.CancelFunc
}

// Start prepares the state directory (CA, server certificate, ganesha
// config), starts ganesha and waits until it answers NFS, then opens the TLS
// front end. ctx bounds startup only; the target runs until Close.
func Start(ctx context.Context, o Options) (*Target, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkGaneshaInstalled(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("local target needs root: FSAL VFS needs CAP_DAC_READ_SEARCH")
	}
	// ganesha's config wants absolute paths.
	if o.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	lock, err := openStateDir(o.StateDir)
	if err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			lock.Close()
		}
	}()
	if err := os.MkdirAll(o.ExportDir, 0o755); err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	if o.ExportDir, err = filepath.Abs(o.ExportDir); err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	warnFilesystem(o.ExportDir, o.Logger)

	t := &Target{opts: o, serverName: o.serverName(), log: o.Logger, done: make(chan struct{}), stateLock: lock}
	t.life, t.endLife = context.WithCancel(context.Background())
	t.faults.init()
	tlsConf, err := t.prepareTLS()
	if err != nil {
		return nil, err
	}
	// Listen before starting ganesha so a busy --listen port fails fast.
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return nil, fmt.Errorf("local target: listen on %s: %w", o.Listen, err)
	}
	start := time.Now()
	g, err := t.startGanesha(ctx)
	if err != nil {
		ln.Close()
		t.endLife()
		return nil, err
	}
	t.nfsAddr = g.addr()
	t.log.Info("ganesha ready", zap.Duration("startup", time.Since(start)), zap.String("nfs_addr", t.nfsAddr), zap.Bool("grace", o.Grace))
	t.front = newFrontEnd(ln, tlsConf, t.dialGanesha, t.log, o.identityPolicy())
	t.installFaultHooks()
	started = true
	t.log.Info("local mount target ready", zap.String("addr", t.Addr()), zap.String("server_name", t.serverName),
		zap.String("cafile", t.caFile), zap.String("export", o.ExportDir))
	return t, nil
}

// prepareTLS loads (or creates once) the CA in StateDir/ca and issues a fresh
// server certificate for the EFS name and loopback IPs.
func (t *Target) prepareTLS() (*tls.Config, error) {
	ca, err := testca.LoadOrCreate(filepath.Join(t.opts.StateDir, "ca"), "efs-fuse local target CA")
	if err != nil {
		return nil, fmt.Errorf("local target: %w", err)
	}
	t.caFile = ca.CertFile()
	leaf := testca.Leaf{DNSNames: []string{t.serverName}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	if _, _, err := ca.IssueFiles(t.opts.StateDir, "server", leaf); err != nil {
		return nil, fmt.Errorf("local target: write server certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(t.opts.StateDir, "server.pem"), filepath.Join(t.opts.StateDir, "server-key.pem"))
	if err != nil {
		return nil, fmt.Errorf("local target: load server certificate: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// startGanesha starts ganesha and waits for it. With an automatic port it
// retries on a new port, since the port probed free may be taken meanwhile.
func (t *Target) startGanesha(ctx context.Context) (*ganesha, error) {
	attempts := 1
	if t.opts.GaneshaPort == 0 {
		attempts = 3
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		port := t.opts.GaneshaPort
		if port == 0 {
			p, err := freeLoopbackPort()
			if err != nil {
				return nil, err
			}
			port = p
		}
		g, err := t.launchGanesha(ctx, port, t.opts.Grace)
		if err == nil {
			return g, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("local target: %w", lastErr)
}

// launchGanesha starts one ganesha on port, waits until it answers and
// adopts it as the current process (whose exit ends the target).
func (t *Target) launchGanesha(ctx context.Context, port int, grace bool) (*ganesha, error) {
	// Each launch gets a new epoch, even within one second (see Epoch).
	t.lastEpoch = max(time.Now().Unix(), t.lastEpoch+1)
	g, err := startGanesha(t.opts.StateDir, ganeshaParams{
		Epoch:        t.lastEpoch,
		Port:         port,
		ExportDir:    t.opts.ExportDir,
		RecoveryRoot: filepath.Join(t.opts.StateDir, "recovery"),
		LeaseSeconds: t.opts.LeaseSeconds,
		Grace:        grace,
		GraceSeconds: t.opts.GraceSeconds,
	}, t.log, t.ganeshaExited)
	if err != nil {
		return nil, err
	}
	if err := g.waitReady(ctx); err != nil {
		_ = g.stop()
		return nil, err
	}
	t.current.Store(g)
	select {
	case <-g.exited: // died between the probe and adoption
		t.ganeshaExited(g)
	default:
	}
	return g, nil
}

// ganeshaExited runs on each ganesha's waiter goroutine. Only the adopted
// process ends the target; a failed startup attempt does not.
func (t *Target) ganeshaExited(g *ganesha) {
	if t.current.Load() != g {
		return
	}
	if !t.closing.Load() {
		t.log.Error("ganesha exited unexpectedly", zap.Error(g.waitErr), zap.String("log_tail", g.tail()))
	}
	t.markDone()
}

func (t *Target) markDone() { t.doneOnce.Do(func() { close(t.done) }) }

func (t *Target) dialGanesha(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	return d.DialContext(ctx, "tcp", t.nfsAddr)
}

// Addr is the TLS front end's host:port.
func (t *Target) Addr() string { return t.front.ln.Addr().String() }

// GaneshaPID is the process id of the running ganesha (0 if none), for
// measurements such as the CPU a benchmark costs the server.
func (t *Target) GaneshaPID() int {
	if g := t.current.Load(); g != nil && g.cmd.Process != nil {
		return g.cmd.Process.Pid
	}
	return 0
}

// Calls is the number of RPC calls (COMPOUNDs and NULL pings) the front
// end has relayed to ganesha, all client connections together.
func (t *Target) Calls() uint64 { return t.front.calls.Load() }

// NFSAddr is ganesha's plain-TCP loopback address (for TLS vs plain benchmarks).
func (t *Target) NFSAddr() string { return t.nfsAddr }

// CAFile is the PEM file of the CA that signed the front end's certificate.
func (t *Target) CAFile() string { return t.caFile }

// ServerName is the EFS name in the front end's certificate.
func (t *Target) ServerName() string { return t.serverName }

// MountCommand is the efs-fuse command line mounting this target at mountpoint.
func (t *Target) MountCommand(mountpoint string) string {
	host, port, _ := net.SplitHostPort(t.Addr())
	opts := fmt.Sprintf("tls,cafile=%s,mounttargetip=%s,mounttargetport=%s,region=%s", t.caFile, host, port, t.opts.Region)
	return fmt.Sprintf("efs-fuse -o %s %s:/ %s", shellQuote(opts), t.opts.FSID, shellQuote(mountpoint))
}

// CutConnections closes every proxied client connection at once (fault
// injection) and returns how many there were. ganesha keeps running; new
// connections are accepted as before.
func (t *Target) CutConnections() int {
	n := t.front.cutAll()
	t.log.Info("cut all client connections", zap.Int("count", n))
	return n
}

// Done is closed when ganesha exits (for any reason) or the target is closed.
func (t *Target) Done() <-chan struct{} { return t.done }

// Close stops the front end (cutting all connections), then ganesha
// (SIGTERM, SIGKILL after a bound), and waits for both. Idempotent.
func (t *Target) Close() error {
	t.closeOnce.Do(func() {
		t.closing.Store(true)
		t.endLife() // a restart in progress gives up
		ferr := t.front.close()
		t.restartMu.Lock()
		var gerr error
		if g := t.current.Load(); g != nil {
			gerr = g.stop()
		}
		t.restartMu.Unlock()
		t.markDone()
		_ = t.stateLock.Close() // only now may another target use the state
		t.closeErr = errors.Join(ferr, gerr)
		t.log.Info("local mount target stopped")
	})
	return t.closeErr
}

func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("local target: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// warnFilesystem warns when the export is not on a file system FSAL VFS is
// known to handle (it needs name_to_handle_at with stable handles).
func warnFilesystem(dir string, log *zap.Logger) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC:
	default:
		log.Warn("export directory is not on ext4/xfs/btrfs; FSAL VFS may refuse it", zap.String("dir", dir),
			zap.String("fs_magic", "0x"+strconv.FormatInt(int64(st.Type), 16)))
	}
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
