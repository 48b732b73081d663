package nfsclient

import (
	"context"
	"fmt"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// LockType is a byte-range lock type (RFC 8881 section 18.10). The W
// (blocking) variants tell the server we will poll, for fairness.
type LockType = nfsv4.NfsLockType4

const (
	ReadLock   = nfsv4.READ_LT
	WriteLock  = nfsv4.WRITE_LT
	ReadLockW  = nfsv4.READW_LT
	WriteLockW = nfsv4.WRITEW_LT
)

// ToEOF as a lock length means "to the end of the file, however it grows".
const ToEOF = ^uint64(0)

// LockConflict describes the lock that denied ours (LOCK or LOCKT).
type LockConflict struct {
	Type           LockType
	Offset, Length uint64
	Owner          []byte
}

// LockDeniedError is returned when a conflicting lock is held.
type LockDeniedError struct{ Conflict LockConflict }

func (e *LockDeniedError) Error() string {
	return fmt.Sprintf("nfs LOCK: NFS4ERR_DENIED by a lock at %d+%d", e.Conflict.Offset, e.Conflict.Length)
}

// Unwrap exposes the NFS status, so ErrnoOf maps a denied lock like any
// other NFS4ERR_DENIED (to EAGAIN, what F_SETLK reports).
func (e *LockDeniedError) Unwrap() error { return &Error{Op: "LOCK", Status: nfsv4.NFS4ERR_DENIED} }

// LockArgs describes one LOCK.
type LockArgs struct {
	Type           LockType
	Offset, Length uint64
	Reclaim        bool
	// For a lock-owner's first lock on the file: its open stateid and
	// owner name. Later locks pass the lock stateid from the first.
	OpenStateid Stateid
	Owner       []byte
	LockStateid *Stateid
}

// locker names the lock-owner of a: by its lock stateid once it has one,
// else by its open stateid and owner name under clientID (zero when
// rebindOps fills it in, as for every request sent through compound).
func (a LockArgs) locker(clientID uint64) nfsv4.Locker4 {
	if a.LockStateid != nil {
		return &nfsv4.Locker4_FALSE{LockOwner: nfsv4.ExistLockOwner4{LockStateid: *a.LockStateid}}
	}
	return &nfsv4.Locker4_TRUE{OpenOwner: nfsv4.OpenToLockOwner4{
		OpenStateid: a.OpenStateid,
		LockOwner:   nfsv4.StateOwner4{Clientid: clientID, Owner: a.Owner},
	}}
}

// Lock takes a byte-range lock and returns the lock stateid.
func (c *Client) Lock(ctx context.Context, cred rpc.Cred, fh FH, a LockArgs) (Stateid, error) {
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_LOCK{Oplock: nfsv4.Lock4args{
		Locktype: a.Type, Reclaim: a.Reclaim, Offset: a.Offset, Length: a.Length, Locker: a.locker(0),
	}})
	if err != nil {
		if d, ok := lockDenied(res, err); ok {
			return Stateid{}, d
		}
		return Stateid{}, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_LOCK](res, 1)
	if err != nil {
		return Stateid{}, err
	}
	ok, err := okArm[*nfsv4.Lock4res_NFS4_OK](r.Oplock, "LOCK")
	if err != nil {
		return Stateid{}, err
	}
	return ok.Resok4.LockStateid, nil
}

func lockDenied(res []nfsv4.NfsResop4, err error) (*LockDeniedError, bool) {
	if e, ok := err.(*Error); !ok || e.Status != nfsv4.NFS4ERR_DENIED || len(res) == 0 {
		return nil, false
	}
	var d nfsv4.Lock4denied
	switch r := res[len(res)-1].(type) {
	case *nfsv4.NfsResop4_OP_LOCK:
		x, ok := r.Oplock.(*nfsv4.Lock4res_NFS4ERR_DENIED)
		if !ok {
			return nil, false
		}
		d = x.Denied
	case *nfsv4.NfsResop4_OP_LOCKT:
		x, ok := r.Oplockt.(*nfsv4.Lockt4res_NFS4ERR_DENIED)
		if !ok {
			return nil, false
		}
		d = x.Denied
	default:
		return nil, false
	}
	return &LockDeniedError{Conflict: LockConflict{Type: d.Locktype, Offset: d.Offset, Length: d.Length, Owner: d.Owner.Owner}}, true
}

// Unlock releases a byte range of a lock stateid and returns the updated
// stateid.
func (c *Client) Unlock(ctx context.Context, cred rpc.Cred, fh FH, lockStateid Stateid, typ LockType, off, length uint64) (Stateid, error) {
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_LOCKU{Oplocku: nfsv4.Locku4args{
		Locktype: typ, LockStateid: lockStateid, Offset: off, Length: length,
	}})
	if err != nil {
		return Stateid{}, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_LOCKU](res, 1)
	if err != nil {
		return Stateid{}, err
	}
	ok, err := okArm[*nfsv4.Locku4res_NFS4_OK](r.Oplocku, "LOCKU")
	if err != nil {
		return Stateid{}, err
	}
	return ok.LockStateid, nil
}

// TestLock asks whether owner could take the lock (LOCKT). It returns nil
// when it could, or the conflicting lock.
func (c *Client) TestLock(ctx context.Context, cred rpc.Cred, fh FH, typ LockType, off, length uint64, owner []byte) (*LockConflict, error) {
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_LOCKT{Oplockt: nfsv4.Lockt4args{
		Locktype: typ, Offset: off, Length: length,
		Owner: nfsv4.StateOwner4{Owner: owner}, // client id set by rebindOps
	}})
	if err != nil {
		if d, ok := lockDenied(res, err); ok {
			return &d.Conflict, nil
		}
		return nil, err
	}
	return nil, nil
}

// FreeStateid releases a lock stateid that holds no locks any more (RFC
// 8881 section 18.38), so a lock-owner that is done with a file does not
// stay on the server until the file's CLOSE. It fails with
// NFS4ERR_LOCKS_HELD while the stateid still holds locks. FREE_STATEID
// names the state alone and needs no current filehandle: no PUTFH.
func (c *Client) FreeStateid(ctx context.Context, cred rpc.Cred, stateid Stateid) error {
	res, err := c.compound(ctx, cred, &nfsv4.NfsArgop4_OP_FREE_STATEID{OpfreeStateid: nfsv4.FreeStateid4args{FsaStateid: stateid}})
	if err != nil {
		return err
	}
	if _, err := resultAt[*nfsv4.NfsResop4_OP_FREE_STATEID](res, 0); err != nil {
		return err
	}
	return nil
}

// TestStateids asks the server which of ids are still valid (TEST_STATEID,
// RFC 8881 section 18.48): the answer has one entry per stateid, nil for a
// valid one and an *Error naming its status (ADMIN_REVOKED, EXPIRED,
// BAD_STATEID, ...) for the others. A client that SEQUENCE told of revoked
// state uses it to find which of its stateids were revoked.
func (c *Client) TestStateids(ctx context.Context, cred rpc.Cred, ids []Stateid) ([]error, error) {
	res, err := c.compound(ctx, cred, &nfsv4.NfsArgop4_OP_TEST_STATEID{OptestStateid: nfsv4.TestStateid4args{TsStateids: ids}})
	if err != nil {
		return nil, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_TEST_STATEID](res, 0)
	if err != nil {
		return nil, err
	}
	ok, err := okArm[*nfsv4.TestStateid4res_NFS4_OK](r.OptestStateid, "TEST_STATEID")
	if err != nil {
		return nil, err
	}
	codes := ok.TsrResok4.TsrStatusCodes
	if len(codes) != len(ids) {
		return nil, fmt.Errorf("%w: TEST_STATEID answered %d statuses for %d stateids", rpc.ErrGarbledReply, len(codes), len(ids))
	}
	out := make([]error, len(ids))
	for i, st := range codes {
		if st != nfsv4.NFS4_OK {
			out[i] = &Error{Op: "TEST_STATEID", Status: st}
		}
	}
	return out, nil
}
