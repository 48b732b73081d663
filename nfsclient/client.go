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

// Config describes how to reach the server and who we are to it.
type Config struct {
	// Dial opens a new connection to the server (TLS to the mount target,
	// or plain TCP). The Client owns what it returns.
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
	Logger      *zap.Logger
}

// bootVerifier distinguishes this client instance from earlier ones with
// the same owner id (co_verifier): a new verifier tells the server that we
// rebooted and hold none of our old state.
var bootVerifier = func() (v [8]byte) {
	binary.BigEndian.PutUint64(v[:], uint64(time.Now().UnixNano()))
	return v
}()

// Client is an NFSv4.1 client with one session. It is safe for concurrent
// use; all methods may run at once, up to the session's slot count in flight.
type Client struct {
	// Dependencies and constant data.
	cfg  Config
	log  *zap.Logger
	prog rpc.Program
	xids *rpc.XIDs

	// Session data, set once by Dial.
	clientID  uint64
	sessionID [16]byte
	slots     *slotTable
	lease     time.Duration
	maxRead   uint32
	maxWrite  uint32

	mu   sync.Mutex // guards conn
	conn *rpc.Conn

	lastSent atomic.Int64 // unix nanos of the last COMPOUND sent, for lease renewal

	closeOnce sync.Once
	closing   chan struct{} // closed by Close: background goroutines exit
	wg        sync.WaitGroup
}

// Dial connects and sets up a session: EXCHANGE_ID, CREATE_SESSION,
// RECLAIM_COMPLETE. It starts the lease renewer.
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
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger,
		prog:    rpc.Program{Prog: nfsProgram, Vers: nfsVersion, Machine: cfg.MachineName},
		xids:    rpc.NewXIDs(binary.BigEndian.Uint32(seed[:])),
		closing: make(chan struct{}),
	}
	nc, err := cfg.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("nfsclient: connect: %w", err)
	}
	c.conn = rpc.NewConn(nc, rpc.Options{Logger: c.log})
	if err := c.establish(ctx); err != nil {
		_ = c.conn.Close()
		return nil, err
	}
	c.wg.Add(1)
	go c.renewLease()
	return c, nil
}

// establish runs the session bring-up of RFC 8881 section 18.35-18.51.
func (c *Client) establish(ctx context.Context) error {
	seq, err := c.exchangeID(ctx)
	if err != nil {
		return err
	}
	if err := c.createSession(ctx, seq); err != nil {
		return err
	}
	if err := c.reclaimComplete(ctx); err != nil {
		return err
	}
	c.log.Info("NFSv4.1 session established",
		zap.String("session", fmt.Sprintf("%x", c.sessionID)),
		zap.Int("slots", len(c.slots.seqids)),
		zap.Uint32("max_read", c.maxRead), zap.Uint32("max_write", c.maxWrite),
		zap.Duration("lease", c.lease))
	return nil
}

// MaxRead and MaxWrite are the largest READ and WRITE the session allows.
func (c *Client) MaxRead() uint32  { return c.maxRead }
func (c *Client) MaxWrite() uint32 { return c.maxWrite }

// Slots is the number of requests the session lets run at once.
func (c *Client) Slots() int { return len(c.slots.seqids) }

// Lease is the server's lease time.
func (c *Client) Lease() time.Duration { return c.lease }

// currentConn returns the live connection.
func (c *Client) currentConn() *rpc.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// Null sends the NULL procedure: a round trip that needs no session.
func (c *Client) Null(ctx context.Context) error {
	rec, err := c.prog.EncodeCall(c.xids.Next(), procNull, rpc.Root, nil)
	if err != nil {
		return err
	}
	_, err = c.currentConn().Call(ctx, rec)
	return err
}

// Close ends the session: DESTROY_SESSION, DESTROY_CLIENTID, then the
// connection. Callers close their open files first. It is safe to call
// more than once; the teardown RPCs are bounded by ctx.
func (c *Client) Close(ctx context.Context) error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closing)
		c.wg.Wait()
		err = c.destroy(ctx)
		_ = c.currentConn().Close()
	})
	return err
}
