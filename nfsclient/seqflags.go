package nfsclient

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"go.uber.org/zap"
)

// revokedFlags are the SEQUENCE status flags that report state the server
// took away from us without losing the session (RFC 8881 section 18.46.3).
// Which stateids are affected the server does not say: Config.Revoked
// finds out with TEST_STATEID. Until then requests using them fail
// (NFS4ERR_ADMIN_REVOKED, NFS4ERR_EXPIRED, ...), which gives EIO on those
// handles only, as for state a recovery could not reclaim.
const revokedFlags = nfsv4.SEQ4_STATUS_EXPIRED_ALL_STATE_REVOKED | nfsv4.SEQ4_STATUS_EXPIRED_SOME_STATE_REVOKED |
	nfsv4.SEQ4_STATUS_ADMIN_STATE_REVOKED | nfsv4.SEQ4_STATUS_RECALLABLE_STATE_REVOKED | nfsv4.SEQ4_STATUS_LEASE_MOVED

// stateRevokedFlags are the revokedFlags that call for Config.Revoked.
const stateRevokedFlags = revokedFlags &^ nfsv4.SEQ4_STATUS_LEASE_MOVED

// revokedCheckEvery spaces Config.Revoked calls while the server keeps
// reporting revoked state (it does until every revoked stateid is freed).
const revokedCheckEvery = 5 * time.Second

// checkRevoked runs Config.Revoked in the background, unless it is
// running or ran less than revokedCheckEvery ago.
func (c *Client) checkRevoked() {
	if c.cfg.Revoked == nil || time.Since(time.Unix(0, c.lastRevokedCheck.Load())) < revokedCheckEvery ||
		!c.revokedCheck.CompareAndSwap(false, true) {
		return
	}
	c.lastRevokedCheck.Store(time.Now().UnixNano())
	if !c.goOwned(func() {
		defer c.revokedCheck.Store(false)
		ctx, cancel := context.WithTimeout(c.base, time.Minute)
		defer cancel()
		c.cfg.Revoked(ctx)
	}) {
		c.revokedCheck.Store(false)
	}
}

var seqFlagNames = []struct {
	bit  uint32
	name string
}{
	{nfsv4.SEQ4_STATUS_EXPIRED_ALL_STATE_REVOKED, "EXPIRED_ALL_STATE_REVOKED"},
	{nfsv4.SEQ4_STATUS_EXPIRED_SOME_STATE_REVOKED, "EXPIRED_SOME_STATE_REVOKED"},
	{nfsv4.SEQ4_STATUS_ADMIN_STATE_REVOKED, "ADMIN_STATE_REVOKED"},
	{nfsv4.SEQ4_STATUS_RECALLABLE_STATE_REVOKED, "RECALLABLE_STATE_REVOKED"},
	{nfsv4.SEQ4_STATUS_LEASE_MOVED, "LEASE_MOVED"},
	{nfsv4.SEQ4_STATUS_RESTART_RECLAIM_NEEDED, "RESTART_RECLAIM_NEEDED"},
}

// seqFlagString names the flags set in f, e.g. "ADMIN_STATE_REVOKED|LEASE_MOVED".
func seqFlagString(f uint32) string {
	var names []string
	for _, n := range seqFlagNames {
		if f&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "|")
}

// noteSeqFlags acts on sr_status_flags of a successful SEQUENCE of an
// ordinary request on session s. The server repeats a flag on every reply
// until the condition ends, so each flag acts once per session. Replies
// during recovery (compoundOn) never come here: they carry
// RESTART_RECLAIM_NEEDED until the RECLAIM_COMPLETE recovery sends.
func (c *Client) noteSeqFlags(s *session, flags uint32) {
	if flags&nfsv4.SEQ4_STATUS_RESTART_RECLAIM_NEEDED != 0 {
		// The server restarted but kept the session (RFC 8881 section
		// 18.46.3): our opens and locks are gone, to be reclaimed in its
		// grace period, as after STALE_CLIENTID.
		c.requestRecovery(s, "server restarted (SEQ4_STATUS_RESTART_RECLAIM_NEEDED)")
	}
	f := flags & revokedFlags
	if f == 0 {
		return
	}
	if f&stateRevokedFlags != 0 {
		c.checkRevoked()
	}
	for {
		seen := s.revoked.Load()
		if f&^seen == 0 {
			return // already logged for this session
		}
		if s.revoked.CompareAndSwap(seen, seen|f) {
			break
		}
	}
	names := seqFlagString(f)
	c.mu.Lock()
	c.lastRevoked = names
	// Also the last error, which `efs-fuse status` shows with its time.
	c.lastErr = fmt.Errorf("server revoked state (%s)", names)
	c.mu.Unlock()
	c.log.Warn("server reports revoked state",
		zap.String("flags", names), zap.Uint32("sr_status_flags", flags),
		zap.String("session", fmt.Sprintf("%x", s.id)))
}

// requestRecovery starts the full recovery of dialAndBind (new client id
// and session, reclaim of opens and locks, RECLAIM_COMPLETE) for a session
// the server kept while losing our state. It does so once per session:
// later calls for the same or an older session do nothing. New requests
// wait for the recovery; those already sent get their replies first (the
// connection is retired only once they are in, or after a heartbeat), so a
// CREATE in flight is not cut off and run a second time on the new
// session.
func (c *Client) requestRecovery(s *session, why string) {
	c.mu.Lock()
	if c.closed || c.sess.Load() != s || s.recover.Load() {
		c.mu.Unlock()
		return
	}
	s.recover.Store(true)
	conn := c.conn
	if conn != nil {
		c.conn = nil
		c.connReady = make(chan struct{})
		c.lastErr = fmt.Errorf("state recovery: %s", why)
	}
	c.mu.Unlock()
	c.log.Warn("server lost our state; recovering it", zap.String("cause", why), zap.String("session", fmt.Sprintf("%x", s.id)))
	if conn == nil {
		return // a reconnect is under way; it sees s.recover before installing its connection
	}
	if !c.goOwned(func() {
		c.drain(conn)
		conn.Fail(fmt.Errorf("retired for state recovery: %s", why))
		c.reconnect()
	}) {
		_ = conn.Close() // closing: Close found no connection to close
	}
}

// drain waits until conn has no calls pending, it ends, or a heartbeat
// passes.
func (c *Client) drain(conn *rpc.Conn) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(c.cfg.Heartbeat)
	for conn.Pending() > 0 && time.Now().Before(deadline) {
		select {
		case <-t.C:
		case <-conn.Done():
			return
		case <-c.closing:
			return
		}
	}
}
