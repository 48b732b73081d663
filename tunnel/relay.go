package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// DefaultIdleTimeout is stunnel's TIMEOUTidle, which the EFS helper relies
// on: a connection with no byte in either direction for this long is closed,
// and the kernel NFS client reconnects (and replays) when it next needs it.
const DefaultIdleTimeout = 70 * time.Second

// relayBufSize is the copy buffer per direction. 256 KiB holds a quarter of a
// 1 MiB WRITE record per read(2) from the kernel client; tls.Conn cuts it into
// 16 KiB records anyway, so larger buffers only cost memory (measured by
// BenchmarkRelayThroughput: 64 KiB, 256 KiB and 1 MiB are within noise).
const relayBufSize = 256 << 10

var relayBufs = sync.Pool{New: func() any { b := make([]byte, relayBufSize); return &b }}

// RelayConfig configures a Relay.
type RelayConfig struct {
	// Target is how to reach the mount target. Its ClientCertificate, if
	// set, is called on every upstream handshake (an Identity's
	// Certificate, which renews itself); otherwise the relay presents the
	// certificate LoadClientCertificate returned at start or at the last
	// Reload. Setting both is an error.
	Target Config
	// LoadClientCertificate reads the client certificate (nil, nil = none).
	// It runs at NewRelay and at each Reload, never per connection, so a
	// certificate being rewritten on disk is picked up only when asked.
	LoadClientCertificate func() (*tls.Certificate, error)
	// IdleTimeout closes a connection idle in both directions for this long;
	// 0 = DefaultIdleTimeout, negative = never.
	IdleTimeout time.Duration
	// Logger; nil = no logs. Never given key material.
	Logger *zap.Logger
}

// Relay accepts plain TCP connections (from the kernel NFS client, on
// loopback) and relays each to the mount target over its own verified TLS
// connection, as the stunnel of the EFS helper does.
//
// The upstream connection is dialled only when the first byte arrives from
// the local side. A health probe that connects and closes (or sends nothing)
// therefore costs no TLS handshake with EFS and logs nothing above DEBUG.
// The kernel client always speaks first (it sends an RPC call), so nothing
// waits on this.
//
// When either side ends, both are closed: a dropped upstream makes the
// kernel see its connection closed, reconnect and replay. NFS has no use for
// half-closed connections, so none are kept.
type Relay struct {
	// Constant after NewRelay.
	ln     net.Listener
	dialer *Dialer
	load   func() (*tls.Certificate, error)
	idle   time.Duration
	log    *zap.Logger

	cert atomic.Pointer[tls.Certificate] // nil = present no certificate

	// Lifetime: ctx ends on Close; wg counts the accept loop and each
	// connection's two pumps.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nextID atomic.Uint64
	active atomic.Int64

	mu     sync.Mutex
	conns  map[uint64]*relayConn // GUARDED_BY(mu)
	closed bool                  // GUARDED_BY(mu)

	closeOnce sync.Once
	closeErr  error
}

// ListenRelay listens on addr (127.0.0.1:PORT) and starts relaying.
func ListenRelay(addr string, cfg RelayConfig) (*Relay, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tunnel: listen on %s: %w", addr, err)
	}
	r, err := NewRelay(ln, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return r, nil
}

// NewRelay starts relaying the connections ln accepts. The Relay owns ln
// from then on; on error the caller still owns it.
func NewRelay(ln net.Listener, cfg RelayConfig) (*Relay, error) {
	log := cfg.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Target.ClientCertificate != nil && cfg.LoadClientCertificate != nil {
		return nil, errors.New("tunnel: a relay takes its client certificate from Target.ClientCertificate or LoadClientCertificate, not both")
	}
	r := &Relay{ln: ln, load: cfg.LoadClientCertificate, idle: cfg.IdleTimeout, log: log, conns: map[uint64]*relayConn{}}
	if r.idle == 0 {
		r.idle = DefaultIdleTimeout
	}
	if err := r.loadCert(); err != nil {
		return nil, err
	}
	tc := cfg.Target
	tc.Logger = log
	if tc.ClientCertificate == nil {
		tc.ClientCertificate = func() (*tls.Certificate, error) { return r.cert.Load(), nil }
	}
	d, err := NewDialer(tc)
	if err != nil {
		return nil, err
	}
	r.dialer = d
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.wg.Add(1)
	go r.acceptLoop()
	log.Info("relay listening", zap.Stringer("listen", ln.Addr()), zap.String("target", tc.Addr),
		zap.String("server_name", tc.ServerName), zap.Duration("idle_timeout", r.idle))
	return r, nil
}

// Addr is the local address connections are accepted on.
func (r *Relay) Addr() net.Addr { return r.ln.Addr() }

// Active is the number of connections being served right now.
func (r *Relay) Active() int { return int(r.active.Load()) }

// Reload re-reads the client certificate for connections dialled from now
// on; established connections keep theirs (TLS cannot change it mid-session).
// On error the previous certificate stays in use. A relay whose certificate
// comes from Target.ClientCertificate has nothing to reload.
func (r *Relay) Reload() error {
	if r.load == nil {
		return nil
	}
	if err := r.loadCert(); err != nil {
		r.log.Error("client certificate reload failed; keeping the previous one", zap.Error(err))
		return err
	}
	r.log.Info("client certificate reloaded for new connections", certFields(r.cert.Load())...)
	return nil
}

func (r *Relay) loadCert() error {
	if r.load == nil {
		return nil
	}
	c, err := r.load()
	if err != nil {
		return fmt.Errorf("tunnel: load client certificate: %w", err)
	}
	r.cert.Store(c)
	return nil
}

// certFields describes a certificate for the log: subject and expiry only.
func certFields(c *tls.Certificate) []zap.Field {
	if c == nil || c.Leaf == nil {
		return []zap.Field{zap.Bool("client_certificate", c != nil)}
	}
	return []zap.Field{zap.String("subject", c.Leaf.Subject.String()), zap.Time("not_after", c.Leaf.NotAfter)}
}

// Close stops accepting, closes every connection and waits until every
// goroutine of the relay has returned. It is idempotent.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		for _, c := range r.conns {
			c.close()
		}
		r.mu.Unlock()
		r.cancel() // aborts upstream dials in progress
		err := r.ln.Close()
		r.wg.Wait()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		r.closeErr = err
		r.log.Info("relay stopped")
	})
	return r.closeErr
}

func (r *Relay) acceptLoop() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if r.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				r.log.Error("relay accept failed; no longer accepting", zap.Error(err))
			}
			return
		}
		rc := &relayConn{id: r.nextID.Add(1), local: c, allEnded: make(chan struct{})}
		if !r.register(rc) {
			c.Close()
			return
		}
		r.active.Add(1)
		r.wg.Add(1)
		go r.serve(rc)
	}
}

func (r *Relay) register(c *relayConn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c.id] = c
	return true
}

func (r *Relay) unregister(c *relayConn) {
	r.mu.Lock()
	delete(r.conns, c.id)
	r.mu.Unlock()
	r.active.Add(-1)
}

// serve owns one local connection: wait for its first bytes, dial the
// target, then pump both ways until one side ends.
func (r *Relay) serve(c *relayConn) {
	defer r.wg.Done()
	defer r.unregister(c)
	defer c.close()
	log := r.log.With(zap.Uint64("conn", c.id), zap.Stringer("client", c.local.RemoteAddr()))
	if tcp, ok := c.local.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true) // Go's default, stated: RPCs are latency bound
	}
	c.touch()

	buf := relayBufs.Get().(*[]byte)
	defer relayBufs.Put(buf)
	n, err := c.readIdle(c.local, *buf, r.idle)
	if n == 0 {
		// A probe (connect, then close or silence): nothing to relay.
		log.Debug("local connection ended before sending anything", zap.Error(err))
		return
	}
	up, derr := r.dialer.DialContext(r.ctx)
	if derr != nil {
		switch {
		case r.ctx.Err() != nil:
		case RefusedClientCert(derr): // TLS 1.2: the handshake itself fails
			log.Error(msgCertRefused, zap.Error(derr))
		default:
			log.Error("cannot reach the mount target; closing the local connection", zap.Error(derr))
		}
		return
	}
	if !c.setUpstream(up) {
		return // closed while dialling
	}
	if tc, ok := up.(interface{ ConnectionState() tls.ConnectionState }); ok {
		log.Debug("relaying", zap.Uint16("tls_version", tc.ConnectionState().Version))
	}
	if werr := c.writeIdle(up, (*buf)[:n], r.idle); werr != nil || err != nil {
		log.Debug("connection ended on its first bytes", zap.NamedError("read", err), zap.NamedError("write", werr))
		return
	}

	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		b := relayBufs.Get().(*[]byte)
		defer relayBufs.Put(b)
		c.end(fromTarget, c.pump(c.local, up, *b, r.idle))
	}()
	c.end(fromLocal, c.pump(up, c.local, *buf, r.idle))
	// serve returns (and Close's wg.Wait with it) only after the other pump,
	// which c.end has unblocked by closing both sides.
	c.waitEnded()
	c.logEnd(log)
}

// side names the direction whose read ended a connection.
type side int

const (
	fromLocal  side = iota + 1 // the kernel NFS client side
	fromTarget                 // the mount target side
)

// relayConn is one relayed connection. close may be called from any
// goroutine, any number of times.
type relayConn struct {
	id         uint64
	local      net.Conn
	lastActive atomic.Int64 // unix nanos of the last byte read either way

	mu       sync.Mutex
	upstream net.Conn // GUARDED_BY(mu); nil until dialled
	closed   bool     // GUARDED_BY(mu)
	ends     int      // GUARDED_BY(mu); pumps that have returned
	endSide  side     // GUARDED_BY(mu); the first pump to end
	endErr   error    // GUARDED_BY(mu); and why
	allEnded chan struct{}
}

// end records a pump's end (the first one is the reason) and closes both
// sides, which makes the other pump's read or write fail at once.
func (c *relayConn) end(s side, err error) {
	c.mu.Lock()
	c.ends++
	if c.endSide == 0 {
		c.endSide, c.endErr = s, err
	}
	last := c.ends == 2
	c.mu.Unlock()
	c.close()
	if last {
		close(c.allEnded)
	}
}

func (c *relayConn) waitEnded() { <-c.allEnded }

func (c *relayConn) setUpstream(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		up.Close()
		return false
	}
	c.upstream = up
	return true
}

func (c *relayConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.local.Close()
	if c.upstream != nil {
		// Close the TCP connection under TLS: tls.Conn.Close would first
		// send close_notify and could block for seconds on a stuck peer,
		// and Relay.Close calls this under its lock.
		if tc, ok := c.upstream.(interface{ NetConn() net.Conn }); ok {
			tc.NetConn().Close()
		} else {
			c.upstream.Close()
		}
	}
}

func (c *relayConn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// readIdle reads once from src. The deadline follows the connection's last
// activity in EITHER direction: a long download with no request from the
// kernel is not idle. A read timeout does not break a tls.Conn (it is a
// temporary error), so extending the deadline and reading again is safe.
func (c *relayConn) readIdle(src net.Conn, buf []byte, idle time.Duration) (int, error) {
	if idle < 0 {
		return src.Read(buf)
	}
	for {
		_ = src.SetReadDeadline(time.Unix(0, c.lastActive.Load()).Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			c.touch()
			return n, err
		}
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() {
			if time.Since(time.Unix(0, c.lastActive.Load())) < idle {
				continue // the other direction was active meanwhile
			}
			return 0, errIdle
		}
		return n, err
	}
}

// writeIdle writes p, giving up if the peer accepts nothing for the idle
// timeout (a kernel client that stopped reading must not pin the relay).
func (c *relayConn) writeIdle(dst net.Conn, p []byte, idle time.Duration) error {
	if idle > 0 {
		_ = dst.SetWriteDeadline(time.Now().Add(idle))
	}
	_, err := dst.Write(p)
	return err
}

// errIdle ends a connection that saw no traffic for the idle timeout.
var errIdle = errors.New("idle timeout")

// pump copies src to dst until either fails. Reads go straight into buf and
// writes come straight from it: one copy per direction besides TLS's own.
// (io.CopyBuffer would ignore buf: *net.TCPConn implements WriterTo and
// ReaderFrom, whose generic paths use 32 KiB buffers of their own.)
func (c *relayConn) pump(dst, src net.Conn, buf []byte, idle time.Duration) error {
	for {
		n, rerr := c.readIdle(src, buf, idle)
		if n > 0 {
			if err := c.writeIdle(dst, buf[:n], idle); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
		if rerr != nil {
			return rerr
		}
	}
}

// logEnd logs why a connection ended: an upstream drop at INFO (the kernel
// will reconnect, and operators want to see it), the rest at DEBUG.
func (c *relayConn) logEnd(log *zap.Logger) {
	c.mu.Lock()
	s, err := c.endSide, c.endErr
	c.mu.Unlock()
	switch {
	case errors.Is(err, errIdle):
		log.Debug("connection idle; closed")
	case s == fromTarget && RefusedClientCert(err):
		// TLS 1.3: the server judges the certificate after the client's
		// handshake is done, so the refusal arrives on the first read.
		log.Error(msgCertRefused, zap.Error(err))
	case s == fromTarget && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		log.Info("mount target closed the connection; closed the local side so the NFS client reconnects", zap.Error(err))
	case s == fromTarget:
		log.Warn("connection to the mount target failed; closed the local side", zap.Error(err))
	default:
		log.Debug("local side ended the connection", zap.Error(err))
	}
}

const msgCertRefused = "the mount target refused the client certificate (file system, access point or IAM authorization); closed the local side"

// TLS alerts (RFC 8446 section 6.2) a server sends when it refuses the
// client's certificate.
const (
	alertBadCertificate      = 42
	alertAccessDenied        = 49
	alertCertificateRequired = 116
)

// RefusedClientCert reports whether err is the mount target refusing our
// client certificate (a TLS alert): at the handshake or, with TLS 1.3, on
// the first read after it.
func RefusedClientCert(err error) bool {
	return isRemoteAlert(err, alertBadCertificate) || isRemoteAlert(err, alertAccessDenied) ||
		isRemoteAlert(err, alertCertificateRequired)
}
