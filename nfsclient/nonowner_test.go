package nfsclient_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// TestServerAnswersNonOwnerSetattr pins what the local target's ganesha
// answers a non-owner's SETATTR asked directly: a chmod of another user's
// file is NFS4ERR_PERM (EPERM) and times set to the server's clock by a
// user who may write the file succeed, as POSIX says and as FUSE mode
// answers. The kernel NFS client in the guest answered EACCES to both
// (docs/SEMANTICS.md, the open differences of the differential test): so
// that EACCES is not ganesha's answer passed on.
func TestServerAnswersNonOwnerSetattr(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.c
	m := uint32(0o666)
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: e.root, Name: "theirs", Access: nfsclient.ShareBoth, Create: nfsclient.Guarded, Attrs: nfsclient.SetAttr{Mode: &m}})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.CloseState(ctx, root, o.FH, o.Stateid)
	chmod := uint32(0o777)
	_, err = c.Setattr(ctx, user, o.FH, nfsclient.AnonymousStateid, nfsclient.SetAttr{Mode: &chmod})
	_, err2 := c.Setattr(ctx, user, o.FH, nfsclient.AnonymousStateid, nfsclient.SetAttr{Mtime: &nfsclient.SetTime{Now: true}, Atime: &nfsclient.SetTime{Now: true}})
	t.Logf("chmod by a non-owner: %v (%v); UTIME_NOW by a non-owner writer: %v (%v)", errnoOf(err), err, errnoOf(err2), err2)
	if errnoOf(err) != syscall.EPERM || err2 != nil {
		t.Fatalf("ganesha answered chmod %v and UTIME_NOW %v by a non-owner, want EPERM and ok (SEMANTICS.md)", errnoOf(err), err2)
	}
}
