package nfsclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"go.uber.org/zap"
)

// Extra connections (Config.Connections > 1) carry READs and WRITEs beside
// the primary connection, all bound to the one session. EFS allows about
// 500 MiB/s per connection and more per client over several (EFS-FACTS
// section 5), as the kernel client's nconnect does over several TCP
// connections.
//
// The primary connection stays in charge of everything stateful: session
// bring-up, recovery and reclaim, and every request other than READ and
// WRITE. Extras are strictly additive: they are used only while the
// primary is up (so nothing overtakes a reclaim), a request whose extra
// fails is resent like any other (on whichever connection is up next), and
// each extra is re-dialled and bound to the current session on its own.
// The reply cache belongs to the session's slots, not to a connection, so
// a resend on another connection is still answered exactly once.

// MaxConnections bounds Config.Connections, as the Linux client bounds
// nconnect.
const MaxConnections = 16

// extraConn is one extra connection and the session it is bound to.
type extraConn struct {
	conn    *rpc.Conn
	sess    *session
	pinging atomic.Bool // a heartbeat NULL is on its way
}

// extraLogEvery: an extra connection's failed dials log the first and then
// every tenth; the primary's reconnect says the rest.
const extraLogEvery = 10

// startExtras starts one keeper per extra connection. Called once the
// primary connection and its session are up.
func (c *Client) startExtras() {
	for i := range c.extras {
		c.goOwned(func() { c.keepExtra(i) })
	}
}

// keepExtra dials extra connection i, binds it to the current session,
// and does that again whenever it ends, until the client closes.
func (c *Client) keepExtra(i int) {
	backoff := reconnectMinBackoff
	for attempt := 1; ; attempt++ {
		ec, err := c.dialExtra()
		if err != nil {
			if c.base.Err() != nil {
				return
			}
			var nerr *Error
			if errors.As(err, &nerr) && !isSessionGone(nerr.Status) {
				// The server answered, and refused: it will not
				// take more connections for this session.
				c.log.Warn("server refused an extra connection to the session; going on with fewer",
					zap.Int("connection", i+2), zap.Error(err))
				return
			}
			if attempt == 1 || attempt%extraLogEvery == 0 {
				c.log.Warn("extra connection failed; READ and WRITE use the others meanwhile",
					zap.Int("connection", i+2), zap.Int("attempt", attempt), zap.Error(err))
			}
			select {
			case <-time.After(backoff/2 + rand.N(backoff/2+1)):
			case <-c.closing:
				return
			}
			backoff = min(2*backoff, reconnectMaxBackoff)
			continue
		}
		attempt, backoff = 0, reconnectMinBackoff
		c.extras[i].Store(ec)
		select {
		case <-ec.conn.Done():
		case <-c.closing:
		}
		c.extras[i].CompareAndSwap(ec, nil)
		_ = ec.conn.Close()
		if c.base.Err() != nil {
			return
		}
	}
}

// dialExtra waits for the primary connection (and so for any recovery) to
// be done, then opens a connection and binds it to the current session.
func (c *Client) dialExtra() (*extraConn, error) {
	if _, err := c.waitConn(c.base); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.base, dialTimeout)
	defer cancel()
	conn, err := c.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	s := c.sess.Load()
	if err := c.bindConn(ctx, conn, s); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("bind to session: %w", err)
	}
	return &extraConn{conn: conn, sess: s}, nil
}

// spreadable reports requests that may go on an extra connection: READ
// and WRITE, the bulk of the bytes.
func spreadable(ops []nfsv4.NfsArgop4) bool {
	for _, op := range ops {
		switch op.(type) {
		case *nfsv4.NfsArgop4_OP_READ, *nfsv4.NfsArgop4_OP_WRITE:
			return true
		}
	}
	return false
}

// sendConn is the connection for a request's next transmission: for a
// spreadable one, the next connection in turn among the primary and the
// extras bound to the current session, while the primary is up; otherwise
// (and when that extra is down) the primary, waiting for it if needed.
func (c *Client) sendConn(spread bool) (*rpc.Conn, error) {
	if spread {
		n := uint32(len(c.extras) + 1)
		if i := c.nextConn.Add(1) % n; i > 0 {
			c.mu.Lock()
			up := c.conn != nil
			c.mu.Unlock()
			if ec := c.extras[i-1].Load(); up && ec != nil {
				if ec.sess == c.sess.Load() {
					return ec.conn, nil
				}
				// Bound to a session recovery has replaced: its
				// keeper binds a new connection to the new one.
				ec.conn.Fail(errors.New("bound to a session that recovery replaced"))
			}
		}
	}
	return c.waitConn(c.base)
}

// sessionTrouble handles a SEQUENCE on conn saying the session is gone:
// the primary's reconnect finds out why and recovers. An extra connection
// reporting it is retired too.
func (c *Client) sessionTrouble(conn *rpc.Conn, err error) {
	c.mu.Lock()
	primary := c.conn
	c.mu.Unlock()
	if conn != primary {
		conn.Fail(err)
	}
	if primary != nil {
		c.connLost(primary, err)
	}
}

// failExtras ends every extra connection (ForceReconnect); their keepers
// dial again.
func (c *Client) failExtras(cause error) {
	for i := range c.extras {
		if ec := c.extras[i].Load(); ec != nil {
			ec.conn.Fail(cause)
		}
	}
}

// liveExtras counts the extra connections currently bound.
func (c *Client) liveExtras() int {
	n := 0
	for i := range c.extras {
		if c.extras[i].Load() != nil {
			n++
		}
	}
	return n
}

// pingStalledExtras is the heartbeat for extra connections: each one with
// requests pending and nothing received for hb gets a NULL (in a goroutine
// of its own, so the primary's heartbeat is not held up), and one that
// does not answer within hb is failed, so its requests are resent on the
// others.
func (c *Client) pingStalledExtras(hb time.Duration) {
	for i := range c.extras {
		ec := c.extras[i].Load()
		if ec == nil || ec.conn.Pending() == 0 || time.Since(ec.conn.LastReceive()) < hb || !ec.pinging.CompareAndSwap(false, true) {
			continue
		}
		c.goOwned(func() {
			defer ec.pinging.Store(false)
			ctx, cancel := context.WithTimeout(c.base, hb)
			defer cancel()
			if err := c.nullOn(ctx, ec.conn); err != nil && c.base.Err() == nil {
				c.log.Warn("extra connection stalled; resending its requests on the others", zap.Int("connection", i+2), zap.Error(err))
				ec.conn.Fail(fmt.Errorf("no reply to a heartbeat within %v: %w", hb, err))
			}
		})
	}
}
