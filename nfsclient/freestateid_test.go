package nfsclient_test

import (
	"context"
	"errors"
	"testing"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// TestFreeStateid frees a lock stateid on the real server: refused while
// it holds a lock, accepted once unlocked, after which the server no
// longer knows the stateid (the lock-owner's state is really gone, which
// is what fusefs relies on to not pile up flock lock-owners).
func TestFreeStateid(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.c
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: e.root, Name: "freed", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatalf("OPEN: %v", err)
	}
	defer c.CloseState(ctx, root, o.FH, o.Stateid)
	lsid, err := c.Lock(ctx, root, o.FH, nfsclient.LockArgs{Type: nfsclient.WriteLock, Length: nfsclient.ToEOF, OpenStateid: o.Stateid, Owner: []byte("free-me")})
	if err != nil {
		t.Fatalf("LOCK: %v", err)
	}
	if err := c.FreeStateid(ctx, root, lsid); !hasStatus(err, nfsv4.NFS4ERR_LOCKS_HELD) {
		t.Fatalf("FREE_STATEID of a stateid holding a lock: %v, want NFS4ERR_LOCKS_HELD", err)
	}
	lsid, err = c.Unlock(ctx, root, o.FH, lsid, nfsclient.WriteLock, 0, nfsclient.ToEOF)
	if err != nil {
		t.Fatalf("LOCKU: %v", err)
	}
	if err := c.FreeStateid(ctx, root, lsid); err != nil {
		t.Fatalf("FREE_STATEID after LOCKU: %v", err)
	}
	_, err = c.Lock(ctx, root, o.FH, nfsclient.LockArgs{Type: nfsclient.WriteLock, Length: nfsclient.ToEOF, LockStateid: &lsid})
	if !hasStatus(err, nfsv4.NFS4ERR_BAD_STATEID) {
		t.Fatalf("LOCK with the freed stateid: %v, want NFS4ERR_BAD_STATEID", err)
	}
	// TEST_STATEID agrees: the freed lock stateid is unknown, the open
	// stateid valid.
	res, err := c.TestStateids(ctx, root, []nfsclient.Stateid{o.Stateid, lsid})
	if err != nil {
		t.Fatalf("TEST_STATEID: %v", err)
	}
	if res[0] != nil || !hasStatus(res[1], nfsv4.NFS4ERR_BAD_STATEID) {
		t.Fatalf("TEST_STATEID of the open and the freed lock stateid: %v, want [nil, NFS4ERR_BAD_STATEID]", res)
	}
	// The open state is untouched: a new lock-owner can still lock.
	if _, err := c.Lock(ctx, root, o.FH, nfsclient.LockArgs{Type: nfsclient.WriteLock, Length: nfsclient.ToEOF, OpenStateid: o.Stateid, Owner: []byte("after-free")}); err != nil {
		t.Fatalf("LOCK by a new owner after FREE_STATEID: %v", err)
	}
}

func hasStatus(err error, s nfsv4.Nfsstat4) bool {
	var nerr *nfsclient.Error
	return errors.As(err, &nerr) && nerr.Status == s
}
