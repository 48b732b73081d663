package nfsclient

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"go.uber.org/zap"
)

// NFS program number and version (RFC 8881 section 16).
const (
	nfsProgram = 100003
	nfsVersion = 4
	procNull   = 0
	procComp   = 1
)

// DefaultMaxIO is the READ/WRITE size asked for: EFS's 1 MiB rsize/wsize.
const DefaultMaxIO = 1 << 20

// DefaultHeartbeat is how long a connection with calls pending may stay
// silent before a NULL ping checks it, and how long that ping may take
// before the connection is declared dead and replaced.
const DefaultHeartbeat = 10 * time.Second

// ErrClosed is returned by calls made on (or interrupted by) a closed Client.
var ErrClosed = errors.New("nfsclient: client closed")

// Config describes how to reach the server and who we are to it.
type Config struct {
	// Dial opens a new connection to the server (TLS to the mount target,
	// or plain TCP). The Client owns what it returns. It is called again
	// after every connection loss.
	Dial func(ctx context.Context) (net.Conn, error)
	// OwnerID is the stable client owner (co_ownerid, RFC 8881 section
	// 2.4): the same string across restarts of the same mount lets the
	// server recognise us and drop our old state.
	OwnerID string
	// MachineName is the AUTH_SYS machine name; default os.Hostname().
	MachineName string
	// MaxIO is the desired READ/WRITE size; default DefaultMaxIO. The
	// session may grant less.
	MaxIO uint32
	// MaxRequests is how many slots to ask for (requests in flight); the
	// server decides. Default 64.
	MaxRequests uint32
	// Timeout, when non-zero, bounds every operation including the time
	// spent waiting for a reconnect: the `soft` mount behaviour (the
	// operation then fails with context.DeadlineExceeded, mapped to EIO).
	// Zero is `hard`: retry forever, until the caller's ctx ends.
	Timeout time.Duration
	// Heartbeat: see DefaultHeartbeat.
	Heartbeat time.Duration
	// Connections is how many connections to bind to the session, 1 to
	// MaxConnections (the nconnect mount option); 0 means 1. READs and
	// WRITEs take turns over all of them, everything else goes on the
	// first (multiconn.go).
	Connections int
	// Reclaim is called when the server lost our state (it restarted):
	// the owner of open files re-opens them and re-takes their locks
	// through the Reclaimer, during the server's grace period, before
	// any other request runs. Nil means nothing to reclaim.
	Reclaim func(ctx context.Context, r *Reclaimer) error
	// Revoked is called when SEQUENCE reports state the server revoked
	// while keeping our session (the *_STATE_REVOKED flags): the owner of
	// open files finds which of its stateids were revoked (TestStateids),
	// frees them (FreeStateid) and opens again what it can. It runs in a
	// goroutine of the client's, never twice at once, and at most every
	// revokedCheckEvery while the server keeps reporting revoked state.
	// Nil: requests with revoked stateids just fail (EIO).
	Revoked func(ctx context.Context)
	Logger  *zap.Logger
}

// bootVerifier distinguishes this client instance from earlier ones with
// the same owner id (co_verifier): a new verifier tells the server that we
// rebooted and hold none of our old state.
var bootVerifier = func() (v [8]byte) {
	binary.BigEndian.PutUint64(v[:], uint64(time.Now().UnixNano()))
	return v
}()

// session is one NFSv4.1 session and the client id it belongs to.
// Recovery replaces it as a whole; requests encoded for an older session
// are encoded again for the new one.
type session struct {
	clientID uint64
	id       [16]byte
	slots    *slotTable
	server   serverIdentity // who granted clientID (EXCHANGE_ID)

	// recover is set, once, when a reply on this session says the server
	// lost our state without losing the session (see requestRecovery).
	recover atomic.Bool
	// revoked holds the revocation status flags already logged for this
	// session, so a flag the server repeats on every reply logs once.
	revoked atomic.Uint32
}

// Client is an NFSv4.1 client with one session at a time. It is safe for
// concurrent use; all methods may run at once, up to the session's slot
// count in flight.
//
// Connection loss is invisible to callers: every in-flight request is
// resent unchanged (same XID, slot and sequence id, so the server's reply
// cache answers a request that already ran) on a new connection bound to
// the same session. A lost session or lost server state is recovered
// before any request continues.
type Client struct {
	// Dependencies and constant data.
	cfg      Config
	log      *zap.Logger
	prog     rpc.Program
	xids     *rpc.XIDs
	lease    time.Duration
	maxRead  uint32
	maxWrite uint32

	extras   []atomic.Pointer[extraConn] // Config.Connections-1 extra connections; nil entries are down
	nextConn atomic.Uint32               // round robin over the primary and extras

	sess     atomic.Pointer[session]
	stateMap atomic.Pointer[map[[12]byte]Stateid] // old -> reclaimed stateids, from the last recovery

	mu          sync.Mutex    // guards the fields below
	conn        *rpc.Conn     // nil while reconnecting
	connReady   chan struct{} // closed when conn is set again
	closed      bool          // no new goroutines once set
	lastErr     error         // why the last connection ended
	lastRevoked string        // revocation flags last reported (Stats.Revoked)

	revokedCheck     atomic.Bool  // a Config.Revoked call is running
	lastRevokedCheck atomic.Int64 // unix nanos of the last one's start

	reconnects atomic.Int64
	ops        opCounts
	recoveries atomic.Int64
	lastSent   atomic.Int64 // unix nanos of the last COMPOUND sent, for lease renewal

	closeOnce  sync.Once
	base       context.Context // cancelled by Close: ends dials and background work
	cancelBase context.CancelFunc
	closing    <-chan struct{} // base.Done()
	wg         sync.WaitGroup
}

// Dial connects and sets up a session: EXCHANGE_ID, CREATE_SESSION,
// RECLAIM_COMPLETE. It starts the lease renewer and the heartbeat.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Dial == nil {
		return nil, errors.New("nfsclient: Config.Dial is required")
	}
	if cfg.OwnerID == "" {
		return nil, errors.New("nfsclient: Config.OwnerID is required")
	}
	if cfg.MachineName == "" {
		cfg.MachineName, _ = os.Hostname()
	}
	if cfg.MaxIO == 0 {
		cfg.MaxIO = DefaultMaxIO
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = 64
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Connections == 0 {
		cfg.Connections = 1
	}
	if cfg.Connections < 1 || cfg.Connections > MaxConnections {
		return nil, fmt.Errorf("nfsclient: %d connections asked for; 1 to %d allowed", cfg.Connections, MaxConnections)
	}
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c := &Client{
		cfg:    cfg,
		log:    cfg.Logger,
		prog:   rpc.Program{Prog: nfsProgram, Vers: nfsVersion, Machine: cfg.MachineName},
		xids:   rpc.NewXIDs(binary.BigEndian.Uint32(seed[:])),
		extras: make([]atomic.Pointer[extraConn], cfg.Connections-1),
	}
	c.base, c.cancelBase = context.WithCancel(context.Background())
	c.closing = c.base.Done()
	nc, err := cfg.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("nfsclient: connect: %w", err)
	}
	conn := rpc.NewConn(nc, rpc.Options{Logger: c.log})
	if err := c.establish(ctx, conn); err != nil {
		_ = conn.Close()
		c.cancelBase()
		return nil, err
	}
	c.conn = conn
	c.wg.Add(2)
	go c.renewLease()
	go c.heartbeat()
	c.watchConn(conn)
	c.startExtras()
	return c, nil
}

// establish runs the session bring-up of RFC 8881 section 18.35-18.51.
func (c *Client) establish(ctx context.Context, conn *rpc.Conn) error {
	x, err := c.exchangeID(ctx, conn)
	if err != nil {
		return err
	}
	s, fore, err := c.createSession(ctx, conn, x)
	if err != nil {
		return err
	}
	c.maxRead = ioSize(c.cfg.MaxIO, fore.CaMaxresponsesize)
	c.maxWrite = ioSize(c.cfg.MaxIO, fore.CaMaxrequestsize)
	if c.maxRead < 4096 || c.maxWrite < 4096 {
		return fmt.Errorf("nfsclient: server granted a session too small for I/O (max request %d, max response %d bytes)",
			fore.CaMaxrequestsize, fore.CaMaxresponsesize)
	}
	if err := c.reclaimComplete(ctx, conn, s); err != nil {
		return err
	}
	c.sess.Store(s)
	lease, err := c.leaseTime(ctx, conn, s)
	if err != nil {
		return fmt.Errorf("nfsclient: read lease time: %w", err)
	}
	c.lease = lease
	c.log.Info("NFSv4.1 session established",
		zap.String("session", fmt.Sprintf("%x", s.id)),
		zap.Int("slots", len(s.slots.seqids)),
		zap.Uint32("max_read", c.maxRead), zap.Uint32("max_write", c.maxWrite),
		zap.Duration("lease", c.lease))
	return nil
}

// MaxRead and MaxWrite are the largest READ and WRITE the session allows.
func (c *Client) MaxRead() uint32  { return c.maxRead }
func (c *Client) MaxWrite() uint32 { return c.maxWrite }

// Slots is the number of requests the session lets run at once.
func (c *Client) Slots() int { return len(c.sess.Load().slots.seqids) }

// Lease is the server's lease time.
func (c *Client) Lease() time.Duration { return c.lease }

// Stats describe the client's connection history, for status reports.
type Stats struct {
	Connected bool
	// Connections is how many connections are bound to the session now
	// (the primary, if up, and the extras of Config.Connections).
	Connections int
	Reconnects  int64  // connections replaced after a loss
	Recoveries  int64  // sessions (or server state) re-established
	LastError   string // why the last connection ended, if one did
	// Revoked names the state-revocation flags the server last reported
	// in SEQUENCE, e.g. "ADMIN_STATE_REVOKED" (the SEQ4_STATUS_ names
	// without prefix, joined by "|"), if any.
	Revoked string
}

// Stats returns the current connection statistics.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := Stats{Connected: c.conn != nil, Reconnects: c.reconnects.Load(), Recoveries: c.recoveries.Load()}
	if c.conn != nil {
		st.Connections = 1 + c.liveExtras()
	}
	if c.lastErr != nil {
		st.LastError = c.lastErr.Error()
	}
	st.Revoked = c.lastRevoked
	return st
}

// goOwned runs f in a goroutine counted by c.wg, unless the client is
// closing, in which case it reports false and runs nothing.
func (c *Client) goOwned(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// Null sends the NULL procedure: a round trip that needs no session.
func (c *Client) Null(ctx context.Context) error {
	conn, err := c.waitConn(ctx)
	if err != nil {
		return err
	}
	return c.nullOn(ctx, conn)
}

func (c *Client) nullOn(ctx context.Context, conn *rpc.Conn) error {
	rec, err := c.prog.EncodeCall(c.xids.Next(), procNull, rpc.Root, nil)
	if err != nil {
		return err
	}
	_, err = conn.Call(ctx, rec)
	return err
}

// Ping sends a bare SEQUENCE: a health probe of the whole path (TLS,
// server, session) that also renews the lease.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.compound(ctx, rpc.Root)
	return err
}

// Close ends the session: DESTROY_SESSION, DESTROY_CLIENTID, then the
// connection. Callers close their open files first. It is safe to call
// more than once; the teardown RPCs are bounded by ctx.
func (c *Client) Close(ctx context.Context) error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		conn := c.conn
		c.mu.Unlock()
		c.cancelBase()
		if conn != nil {
			err = c.destroy(ctx, conn)
			_ = conn.Close()
		} else {
			err = fmt.Errorf("nfsclient: closed while disconnected: %w", ErrClosed)
		}
		c.wg.Wait()
	})
	return err
}
