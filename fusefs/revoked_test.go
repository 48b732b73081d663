package fusefs_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// revokingClose is the real session as if the server had revoked every
// open stateid by the time it is closed (ganesha here only ever expires a
// whole client, never single stateids): CLOSE is sent, then answered
// ADMIN_REVOKED. FREE_STATEIDs are recorded rather than sent, since the
// real state is already closed.
type revokingClose struct {
	fusefs.Session

	mu     sync.Mutex
	closed []nfsclient.Stateid
	freed  []nfsclient.Stateid
}

func (s *revokingClose) CloseState(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, st nfsclient.Stateid) error {
	if err := s.Session.CloseState(ctx, cred, fh, st); err != nil {
		return err
	}
	s.mu.Lock()
	s.closed = append(s.closed, st)
	s.mu.Unlock()
	return &nfsclient.Error{Op: "CLOSE", Status: nfsv4.NFS4ERR_ADMIN_REVOKED}
}

func (s *revokingClose) FreeStateid(ctx context.Context, cred rpc.Cred, st nfsclient.Stateid) error {
	s.mu.Lock()
	s.freed = append(s.freed, st)
	s.mu.Unlock()
	return nil
}

// TestRevokedStateFreedAtClose: a CLOSE answered "revoked" frees the
// stateid (the server keeps a revoked stateid, and flags revoked state in
// every reply, until the client frees it), and close(2) still succeeds.
func TestRevokedStateFreedAtClose(t *testing.T) {
	var rs *revokingClose
	e := mount(t, func(o *fusefs.Options) {
		rs = &revokingClose{Session: o.Session}
		o.Session = rs
	})
	if err := os.WriteFile(filepath.Join(e.mnt, "revoked"), []byte("data"), 0o644); err != nil {
		t.Fatalf("write and close a file whose CLOSE is answered revoked: %v", err)
	}
	// RELEASE, and so CLOSE, runs after close(2) has returned.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rs.mu.Lock()
		done := len(rs.closed) > 0 && len(rs.freed) >= len(rs.closed)
		rs.mu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if len(rs.closed) == 0 {
		t.Fatal("no CLOSE went through the session: the test did not test revocation")
	}
	if len(rs.freed) != len(rs.closed) {
		t.Fatalf("%d stateids freed for %d CLOSEs answered revoked", len(rs.freed), len(rs.closed))
	}
	for i := range rs.closed {
		if rs.freed[i].Other != rs.closed[i].Other {
			t.Errorf("freed %x, but the revoked stateid was %x", rs.freed[i].Other, rs.closed[i].Other)
		}
	}
}
