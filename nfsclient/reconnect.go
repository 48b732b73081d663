package nfsclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"go.uber.org/zap"
)

// Reconnect backoff: quick first retries (a cut connection to a healthy
// server comes back at once), doubling to a ceiling that keeps a dead
// server from being hammered, with jitter so that many clients cut at once
// do not return in lockstep.
const (
	reconnectMinBackoff = 50 * time.Millisecond
	reconnectMaxBackoff = 5 * time.Second
	// dialTimeout bounds one connection attempt (TCP, TLS, bind).
	dialTimeout = 15 * time.Second
)

// waitConn returns the live connection, waiting while a reconnect is in
// progress, until ctx ends or the client closes.
func (c *Client) waitConn(ctx context.Context) (*rpc.Conn, error) {
	for {
		c.mu.Lock()
		conn, ready, closed := c.conn, c.connReady, c.closed
		c.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case conn != nil:
			return conn, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.closing:
			return nil, ErrClosed
		}
	}
}

// connLost retires conn after a transport failure and starts one reconnect
// (later reports about the same conn are no-ops).
func (c *Client) connLost(conn *rpc.Conn, cause error) {
	c.mu.Lock()
	if c.conn != conn || c.closed {
		c.mu.Unlock()
		return
	}
	c.conn = nil
	c.connReady = make(chan struct{})
	c.lastErr = cause
	c.mu.Unlock()
	conn.Fail(cause)
	c.log.Warn("connection to the server lost; reconnecting", zap.Error(cause))
	c.goOwned(c.reconnect)
}

// watchConn reconnects as soon as conn ends, rather than at the next
// request: an idle mount whose server restarted is whole again before
// anyone asks, and its lease renewal does not have to find out.
func (c *Client) watchConn(conn *rpc.Conn) {
	c.goOwned(func() {
		select {
		case <-conn.Done():
			c.connLost(conn, conn.Err())
		case <-c.closing:
		}
	})
}

// reconnect dials until it has a connection bound to a working session,
// then installs it and wakes every waiting request. It runs until it
// succeeds or the client closes: a hard mount never gives up.
func (c *Client) reconnect() {
	start := time.Now()
	backoff := reconnectMinBackoff
	for attempt := 1; ; attempt++ {
		conn, err := c.dialAndBind()
		if err == nil {
			c.mu.Lock()
			if c.closed {
				c.mu.Unlock()
				_ = conn.Close()
				return
			}
			if c.sess.Load().recover.Load() {
				// A reply asked for state recovery while this
				// connection was being bound (requestRecovery found
				// no connection to retire): recover before anyone
				// sends on it.
				c.mu.Unlock()
				_ = conn.Close()
				continue
			}
			c.conn = conn
			close(c.connReady)
			c.mu.Unlock()
			c.watchConn(conn)
			c.reconnects.Add(1)
			c.log.Info("reconnected to the server", zap.Int("attempts", attempt), zap.Duration("recovery_time", time.Since(start)))
			return
		}
		if attempt == 1 || attempt%10 == 0 {
			c.log.Warn("reconnect attempt failed", zap.Int("attempt", attempt), zap.Error(err))
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		sleep := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-time.After(sleep):
		case <-c.closing:
			return
		}
		backoff = min(2*backoff, reconnectMaxBackoff)
	}
}

// dialConn opens a new connection to the server (Config.Dial) for RPC.
func (c *Client) dialConn(ctx context.Context) (*rpc.Conn, error) {
	nc, err := c.cfg.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return rpc.NewConn(nc, rpc.Options{Logger: c.log}), nil
}

// dialAndBind opens a new connection and ties it to our session, making a
// new session (and reclaiming state) when the server no longer has it.
func (c *Client) dialAndBind() (*rpc.Conn, error) {
	ctx, cancel := context.WithTimeout(c.base, dialTimeout)
	defer cancel()
	conn, err := c.dialConn(ctx)
	if err != nil {
		return nil, err
	}
	s := c.sess.Load()
	if s.recover.Load() {
		// The session is fine but the server lost our state (see
		// requestRecovery): bind nothing to the old session, recover.
		err = c.recoverSession(ctx, conn, true)
	} else {
		err = c.bindConn(ctx, conn, s)
		var nerr *Error
		if errors.As(err, &nerr) && isSessionGone(nerr.Status) {
			c.log.Info("server no longer has our session; starting a new one", zap.Error(err))
			err = c.recoverSession(ctx, conn, lostClientState(nerr.Status))
		}
	}
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return conn, nil
}

// isSessionGone reports statuses that mean the session (or the whole
// client state) is gone on the server.
func isSessionGone(s nfsv4.Nfsstat4) bool {
	switch s {
	case nfsv4.NFS4ERR_BADSESSION, nfsv4.NFS4ERR_DEADSESSION, nfsv4.NFS4ERR_STALE_CLIENTID,
		nfsv4.NFS4ERR_EXPIRED, nfsv4.NFS4ERR_CONN_NOT_BOUND_TO_SESSION:
		return true
	}
	return false
}

// bindConn associates conn with session s for fore-channel traffic (RFC
// 8881 section 18.34). With SP4_NONE the server may also bind it implicitly
// on first use; binding explicitly tells us at once whether the session
// survived.
func (c *Client) bindConn(ctx context.Context, conn *rpc.Conn, s *session) error {
	_, err := c.plainCompound(ctx, conn, &nfsv4.NfsArgop4_OP_BIND_CONN_TO_SESSION{
		OpbindConnToSession: nfsv4.BindConnToSession4args{BctsaSessid: s.id, BctsaDir: nfsv4.CDFC4_FORE},
	})
	return err
}

// heartbeat watches for a stalled connection: calls pending and nothing
// received for a whole heartbeat. It then pings with NULL and, if that
// goes unanswered too, replaces the connection, so a black-holed TCP
// stream is noticed in about two heartbeats instead of TCP's many minutes.
func (c *Client) heartbeat() {
	defer c.wg.Done()
	hb := c.cfg.Heartbeat
	t := time.NewTicker(hb / 2)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		c.pingStalledExtras(hb)
		c.mu.Lock()
		conn := c.conn
		c.mu.Unlock()
		if conn == nil || conn.Pending() == 0 || time.Since(conn.LastReceive()) < hb {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), hb)
		err := c.nullOn(ctx, conn)
		cancel()
		if err != nil {
			c.connLost(conn, fmt.Errorf("no reply to a heartbeat within %v: %w", hb, err))
		}
	}
}

// ForceReconnect replaces the current connection as if it had been lost
// (a supervisor that found the mount unresponsive asks for this). In-flight
// requests are resent on the new connection.
func (c *Client) ForceReconnect(reason string) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		c.connLost(conn, fmt.Errorf("%w: %s", rpc.ErrConnClosed, reason))
	}
	c.failExtras(errors.New(reason))
}

// lostClientState reports SEQUENCE (or BIND_CONN_TO_SESSION) statuses
// that mean our opens and locks are gone even if the client id is still
// known: a new client id (STALE_CLIENTID), or a lease that expired while
// the server was unreachable (EXPIRED). Recovery must then reclaim or
// reopen them rather than trust EXCHANGE_ID's "confirmed".
func lostClientState(s nfsv4.Nfsstat4) bool {
	return s == nfsv4.NFS4ERR_STALE_CLIENTID || s == nfsv4.NFS4ERR_EXPIRED
}
