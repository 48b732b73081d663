package nfsclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"go.uber.org/zap"
)

// recoverSession replaces a session the server no longer has, or whose
// state it lost. If the server still knows our client id (EXCHANGE_ID says
// CONFIRMED, from the same server instance) and nothing told us otherwise
// (reclaim false), only the session was lost and our opens and locks are
// intact. Otherwise the server restarted: we reclaim state during its
// grace period (RFC 8881 section 8.4.2.1), then send RECLAIM_COMPLETE.
// reclaim is set when the server said so itself, on a session that
// survived (SEQ4_STATUS_RESTART_RECLAIM_NEEDED, or STALE_CLIENTID on an
// op): it may then hand back the same confirmed client id. The new session
// is installed only when all of that is done, so no ordinary request runs
// in between.
func (c *Client) recoverSession(ctx context.Context, conn *rpc.Conn, reclaim bool) error {
	old := c.sess.Load()
	x, err := c.exchangeID(ctx, conn)
	if err != nil {
		return err
	}
	s, _, err := c.createSession(ctx, conn, x)
	if err != nil {
		return err
	}
	sameServer := x.server == old.server
	if !sameServer {
		c.log.Warn("a different server instance answers (server_owner or scope changed); recovering all state",
			zap.String("old_owner", fmt.Sprintf("%x", old.server.major)), zap.String("new_owner", fmt.Sprintf("%x", x.server.major)),
			zap.String("old_scope", fmt.Sprintf("%x", old.server.scope)), zap.String("new_scope", fmt.Sprintf("%x", x.server.scope)))
	}
	if !reclaim && sameServer && x.clientID == old.clientID && x.flags&nfsv4.EXCHGID4_FLAG_CONFIRMED_R != 0 {
		c.log.Info("new session; server state intact")
		c.sess.Store(s)
		c.recoveries.Add(1)
		return nil
	}
	c.log.Warn("server lost our state (restart?); reclaiming open files and locks")
	rc := &Reclaimer{c: c, conn: conn, s: s, moved: map[[12]byte]Stateid{}}
	if c.cfg.Reclaim != nil {
		// Reclaim may take longer than one dial attempt: bound it by the
		// client's life only.
		if err := c.cfg.Reclaim(c.base, rc); err != nil {
			c.log.Error("state reclaim ended early", zap.Error(err))
		}
	}
	if err := c.reclaimComplete(ctx, conn, s); err != nil {
		return err
	}
	c.stateMap.Store(&rc.moved)
	c.sess.Store(s)
	c.recoveries.Add(1)
	return nil
}

// Reclaimer re-establishes open and lock state after a server restart, on
// behalf of the code that owns it (the filesystem's open files). Each
// method returns the new stateid; requests still carrying the old one are
// translated before they are resent.
type Reclaimer struct {
	c     *Client
	conn  *rpc.Conn
	s     *session
	moved map[[12]byte]Stateid
}

// ReclaimOpen re-opens fh for owner with access, as it was open before the
// restart: CLAIM_PREVIOUS during the grace period, or, when the server has
// no grace period for us (NO_GRACE, RECLAIM_BAD), an ordinary CLAIM_FH open
// — which can fail if the file changed meanwhile; the caller then gives EIO
// on that file only.
func (r *Reclaimer) ReclaimOpen(ctx context.Context, cred rpc.Cred, fh FH, owner []byte, access uint32, old Stateid) (Stateid, error) {
	args := nfsv4.Open4args{
		ShareAccess: access | wantNoDeleg,
		ShareDeny:   DenyNone,
		Owner:       nfsv4.StateOwner4{Clientid: r.s.clientID, Owner: owner},
		Openhow:     &nfsv4.Openflag4_default{Opentype: nfsv4.OPEN4_NOCREATE},
		Claim:       &nfsv4.OpenClaim4_CLAIM_PREVIOUS{DelegateType: nfsv4.OPEN_DELEGATE_NONE},
	}
	res, err := r.c.compoundOn(ctx, r.conn, r.s, cred, putFH(fh), &nfsv4.NfsArgop4_OP_OPEN{Opopen: args})
	var nerr *Error
	if errors.As(err, &nerr) && (nerr.Status == nfsv4.NFS4ERR_NO_GRACE || nerr.Status == nfsv4.NFS4ERR_RECLAIM_BAD) {
		args.Claim = &nfsv4.OpenClaim4_CLAIM_FH{}
		res, err = r.c.compoundOn(ctx, r.conn, r.s, cred, putFH(fh), &nfsv4.NfsArgop4_OP_OPEN{Opopen: args})
	}
	if err != nil {
		return Stateid{}, fmt.Errorf("reclaim open: %w", err)
	}
	op, err := resultAt[*nfsv4.NfsResop4_OP_OPEN](res, 1)
	if err != nil {
		return Stateid{}, err
	}
	ok, err := okArm[*nfsv4.Open4res_NFS4_OK](op.Opopen, "OPEN")
	if err != nil {
		return Stateid{}, err
	}
	r.moved[old.Other] = ok.Resok4.Stateid
	return ok.Resok4.Stateid, nil
}

// CloseState closes a state re-opened during recovery that its owner then
// gave up (one of its locks was lost), so that the server does not keep
// it open until the session ends.
func (r *Reclaimer) CloseState(ctx context.Context, cred rpc.Cred, fh FH, stateid Stateid) error {
	_, err := r.c.compoundOn(ctx, r.conn, r.s, cred, putFH(fh), &nfsv4.NfsArgop4_OP_CLOSE{Opclose: nfsv4.Close4args{OpenStateid: stateid}})
	return err
}

// ErrLockLost is returned by ReclaimLock when the server has no grace
// period in which to reclaim a lock (NFS4ERR_NO_GRACE or RECLAIM_BAD: the
// grace ended first, or our lease expired and the server dropped our
// state). Another client may have taken the range, written and let go of
// it meanwhile, so taking it again with an ordinary LOCK would hide that
// from the application. The lock is lost, as the Linux client treats it
// (nfs recover_lost_locks=0, its default).
var ErrLockLost = errors.New("nfsclient: lock lost: the server has no grace period to reclaim it in")

// ReclaimLock re-takes one byte-range lock (a.Type, a.Offset, a.Length)
// for lock-owner a.Owner: the owner's first lock on the file goes under the
// reclaimed open stateid (a.OpenStateid), later ones under the lock stateid
// the first returned (a.LockStateid). Only a reclaim during the server's
// grace period can keep a lock: without one the result is ErrLockLost, and
// a conflicting lock held meanwhile gives LockDeniedError. old is the lock
// stateid before the restart.
func (r *Reclaimer) ReclaimLock(ctx context.Context, cred rpc.Cred, fh FH, a LockArgs, old Stateid) (Stateid, error) {
	res, err := r.c.compoundOn(ctx, r.conn, r.s, cred, putFH(fh), &nfsv4.NfsArgop4_OP_LOCK{Oplock: nfsv4.Lock4args{
		Locktype: a.Type, Reclaim: true, Offset: a.Offset, Length: a.Length, Locker: a.locker(r.s.clientID),
	}})
	var nerr *Error
	if errors.As(err, &nerr) && (nerr.Status == nfsv4.NFS4ERR_NO_GRACE || nerr.Status == nfsv4.NFS4ERR_RECLAIM_BAD) {
		return Stateid{}, fmt.Errorf("reclaim lock: %w (%w)", ErrLockLost, err)
	}
	if err != nil {
		if d, ok := lockDenied(res, err); ok {
			return Stateid{}, d
		}
		return Stateid{}, fmt.Errorf("reclaim lock: %w", err)
	}
	op, err := resultAt[*nfsv4.NfsResop4_OP_LOCK](res, 1)
	if err != nil {
		return Stateid{}, err
	}
	ok, err := okArm[*nfsv4.Lock4res_NFS4_OK](op.Oplock, "LOCK")
	if err != nil {
		return Stateid{}, err
	}
	r.moved[old.Other] = ok.Resok4.LockStateid
	return ok.Resok4.LockStateid, nil
}

// rebindOps points ops at the current session's state before they are
// (re)encoded: owners carry the current client id, and stateids reclaimed
// after a server restart are replaced by their new values. Ops are built per
// call, so rewriting them in place is safe.
func rebindOps(ops []nfsv4.NfsArgop4, clientID uint64, moved *map[[12]byte]Stateid) {
	var m map[[12]byte]Stateid
	if moved != nil {
		m = *moved
	}
	fix := func(sid *Stateid) {
		if n, ok := m[sid.Other]; ok {
			if sid.Seqid == 0 {
				n.Seqid = 0 // "current" stays current
			}
			*sid = n
		}
	}
	for _, op := range ops {
		switch o := op.(type) {
		case *nfsv4.NfsArgop4_OP_OPEN:
			o.Opopen.Owner.Clientid = clientID
		case *nfsv4.NfsArgop4_OP_LOCK:
			switch l := o.Oplock.Locker.(type) {
			case *nfsv4.Locker4_TRUE:
				l.OpenOwner.LockOwner.Clientid = clientID
				fix(&l.OpenOwner.OpenStateid)
			case *nfsv4.Locker4_FALSE:
				fix(&l.LockOwner.LockStateid)
			}
		case *nfsv4.NfsArgop4_OP_LOCKT:
			o.Oplockt.Owner.Clientid = clientID
		case *nfsv4.NfsArgop4_OP_LOCKU:
			fix(&o.Oplocku.LockStateid)
		case *nfsv4.NfsArgop4_OP_READ:
			fix(&o.Opread.Stateid)
		case *nfsv4.NfsArgop4_OP_WRITE:
			fix(&o.Opwrite.Stateid)
		case *nfsv4.NfsArgop4_OP_SETATTR:
			fix(&o.Opsetattr.Stateid)
		case *nfsv4.NfsArgop4_OP_CLOSE:
			fix(&o.Opclose.OpenStateid)
		case *nfsv4.NfsArgop4_OP_OPEN_DOWNGRADE:
			fix(&o.OpopenDowngrade.OpenStateid)
		}
	}
}
