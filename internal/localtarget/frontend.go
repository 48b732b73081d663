package localtarget

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/tlsbatch"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// direction of a relayed chunk.
type direction int

const (
	toServer direction = iota // client -> ganesha
	toClient                  // ganesha -> client
)

func (d direction) String() string {
	if d == toServer {
		return "to-server"
	}
	return "to-client"
}

// chunkFilter sees every chunk before it is forwarded. It may delay it
// (sleeping until ctx ends), replace or drop it (return nil), or fail the
// connection (return an error). This is the hook for fault injection
// ("delay or black-hole traffic for N seconds"); nil forwards untouched.
type chunkFilter func(ctx context.Context, connID uint64, dir direction, p []byte) ([]byte, error)

// acceptGate runs for each accepted connection before its TLS handshake and
// may hold it (a black hole stalls new handshakes too: the client's TCP
// connect succeeds, as the kernel completes it, but nothing answers). The
// wait is not counted in the handshake timeout. An error drops the connection.
type acceptGate func(ctx context.Context) error

const handshakeTimeout = 10 * time.Second

// frontEnd is the TLS listener that stands in for the EFS mount target and
// relays each connection to ganesha over plain loopback TCP.
//
// Lock rules: mu guards conns and closed; relay.close never takes mu, so
// CutConnections may close relays while holding it.
type frontEnd struct {
	// Dependencies.
	ln      net.Listener // raw TCP; the handshake runs per connection, off the accept loop
	tlsConf *tls.Config
	backend func(ctx context.Context) (net.Conn, error) // dials ganesha anew per connection, so a restarted ganesha is picked up
	log     *zap.Logger
	policy  *IdentityPolicy // nil = client certificates not requested
	filter  atomic.Pointer[chunkFilter]
	gate    atomic.Pointer[acceptGate]

	// Lifetime: ctx ends on close; wg counts the accept loop and every
	// connection goroutine (each owns its two pumps).
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	nextID atomic.Uint64
	// calls counts the RPC records relayed to ganesha, all connections
	// together: what a benchmark reads as round trips (Calls).
	calls atomic.Uint64

	mu     sync.Mutex
	conns  map[uint64]*relay // GUARDED_BY(mu)
	closed bool              // GUARDED_BY(mu)
}

func newFrontEnd(ln net.Listener, tlsConf *tls.Config, backend func(context.Context) (net.Conn, error), log *zap.Logger, policy *IdentityPolicy) *frontEnd {
	ctx, cancel := context.WithCancel(context.Background())
	if policy != nil {
		// EFS client certificates are self-signed: request one without chain
		// verification and judge it by its EFS extensions. A refusal here
		// fails the handshake (alert bad_certificate), so ganesha is never dialled.
		tlsConf = tlsConf.Clone()
		tlsConf.ClientAuth = tls.RequestClientCert
		tlsConf.VerifyConnection = func(cs tls.ConnectionState) error {
			_, err := policy.Check(cs.PeerCertificates)
			return err
		}
	}
	f := &frontEnd{ln: ln, tlsConf: tlsConf, backend: backend, log: log, policy: policy, ctx: ctx, cancel: cancel, conns: map[uint64]*relay{}}
	f.wg.Add(1)
	go f.acceptLoop()
	return f
}

func (f *frontEnd) acceptLoop() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if f.ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				f.log.Error("front end accept failed; no longer accepting", zap.Error(err))
			}
			return
		}
		r := &relay{id: f.nextID.Add(1), client: c}
		if !f.register(r) {
			c.Close()
			return
		}
		f.wg.Add(1)
		go f.serve(r)
	}
}

// register adds r unless the front end is closing (then the caller closes).
func (f *frontEnd) register(r *relay) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[r.id] = r
	return true
}

func (f *frontEnd) unregister(r *relay) {
	f.mu.Lock()
	delete(f.conns, r.id)
	f.mu.Unlock()
}

// serve owns one client connection: handshake, dial ganesha, pump both ways
// until either side ends, then close both.
func (f *frontEnd) serve(r *relay) {
	defer f.wg.Done()
	defer f.unregister(r)
	defer r.close()
	log := f.log.With(zap.Uint64("conn", r.id), zap.Stringer("client", r.client.RemoteAddr()))

	if gp := f.gate.Load(); gp != nil {
		if err := (*gp)(f.ctx); err != nil {
			return
		}
	}
	tc := tlsbatch.Server(r.client, f.tlsConf)
	hctx, cancel := context.WithTimeout(f.ctx, handshakeTimeout)
	err := tc.HandshakeContext(hctx)
	cancel()
	var refused *IdentityError
	switch {
	case errors.As(err, &refused):
		log.Warn("front end refused the client's identity", zap.String("reason", refused.Reason))
		return
	case err != nil:
		log.Info("front end TLS handshake failed", zap.Error(err))
		return
	}
	if f.policy != nil {
		id, _ := f.policy.Check(tc.ConnectionState().PeerCertificates) // accepted above; decoded again for the log
		log.Info("client identity accepted", identityFields(id)...)
	}
	server, err := f.backend(f.ctx)
	if err != nil {
		log.Warn("front end cannot reach ganesha", zap.Error(err))
		return
	}
	if !r.setServer(server) {
		return // cut while dialling
	}
	log.Debug("relaying", zap.Uint16("tls_version", tc.ConnectionState().Version))
	errc := make(chan error, 2)
	go func() { errc <- f.pump(r, toServer, server, tc) }()
	go func() { errc <- f.pump(r, toClient, tc, server) }()
	// The first side to end closes both, which ends the other pump.
	first := <-errc
	r.close()
	<-errc
	log.Debug("relay ended", zap.NamedError("reason", first))
}

// pumpBuffer is the most a pump gathers before writing it on.
const pumpBuffer = 1 << 20

// pump copies src to dst through the filter hook. Both directions carry
// record-marked RPC, so while the bytes read so far end inside a fragment
// it keeps reading (more is certainly coming) until the buffer is full:
// a 1 MiB WRITE then reaches ganesha in one write instead of one per 16 KiB
// TLS record, which on two cores was most of the cost of TLS here.
func (f *frontEnd) pump(r *relay, dir direction, dst, src net.Conn) error {
	buf := make([]byte, pumpBuffer)
	var frags rpc.FragmentTracker
	var counted uint64 // of frags.Records, added to f.calls
	for {
		n, rerr := src.Read(buf)
		frags.Advance(buf[:n])
		for rerr == nil && n < len(buf) && frags.MidFragment() {
			var m int
			m, rerr = src.Read(buf[n:])
			frags.Advance(buf[n : n+m])
			n += m
		}
		if dir == toServer && frags.Records > counted {
			f.calls.Add(frags.Records - counted)
			counted = frags.Records
		}
		if n > 0 {
			p := buf[:n]
			if fp := f.filter.Load(); fp != nil {
				var err error
				if p, err = (*fp)(f.ctx, r.id, dir, p); err != nil {
					return fmt.Errorf("%v filter: %w", dir, err)
				}
			}
			if len(p) > 0 {
				if _, err := dst.Write(p); err != nil {
					return fmt.Errorf("%v write: %w", dir, err)
				}
			}
		}
		if rerr != nil {
			return fmt.Errorf("%v read: %w", dir, rerr)
		}
	}
}

// cutAll closes every client connection (and its ganesha side) at once.
func (f *frontEnd) cutAll() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.conns {
		r.close()
	}
	return len(f.conns)
}

// close stops accepting, cuts every connection and waits for all goroutines.
func (f *frontEnd) close() error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	f.cancel()
	err := f.ln.Close()
	f.cutAll()
	f.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// relay is one proxied connection. close may be called from any goroutine,
// any number of times.
type relay struct {
	id     uint64
	client net.Conn

	mu     sync.Mutex
	server net.Conn // GUARDED_BY(mu); nil until ganesha is dialled
	closed bool     // GUARDED_BY(mu)
}

// setServer records the ganesha side; false (and the conn closed) if the
// relay was cut meanwhile.
func (r *relay) setServer(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		c.Close()
		return false
	}
	r.server = c
	return true
}

func (r *relay) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	r.client.Close()
	if r.server != nil {
		r.server.Close()
	}
}
