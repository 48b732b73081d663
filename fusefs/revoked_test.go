package fusefs_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
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

// revokingSession is the real session with a switch that makes the server
// seem to revoke state (ganesha here only ever expires a whole client):
// once revoke is called, TEST_STATEID answers ADMIN_REVOKED for the open
// (or lock) stateids handed out so far, and FREE_STATEID of one of them
// really ends it on ganesha (CLOSE, or LOCKU and FREE_STATEID), as a
// revocation would have.
type revokingSession struct {
	fusefs.Session

	mu      sync.Mutex
	opens   map[[12]byte]revocable // open stateids handed out
	locks   map[[12]byte]revocable // lock stateids handed out
	revoked map[[12]byte]revocable
	freed   int
	revokes int // revoke calls
	reopens int // OPENs of an existing file after a revoke
}

type revocable struct {
	cred   rpc.Cred
	fh     nfsclient.FH
	isOpen bool
}

// mountRevoking mounts a target through a revokingSession.
func mountRevoking(t *testing.T) (*env, *revokingSession) {
	var rs *revokingSession
	e := mount(t, func(o *fusefs.Options) {
		rs = &revokingSession{Session: o.Session, opens: map[[12]byte]revocable{}, locks: map[[12]byte]revocable{}, revoked: map[[12]byte]revocable{}}
		o.Session = rs
	})
	return e, rs
}

func (s *revokingSession) Open(ctx context.Context, cred rpc.Cred, a nfsclient.OpenArgs) (nfsclient.OpenResult, error) {
	res, err := s.Session.Open(ctx, cred, a)
	if err == nil {
		s.mu.Lock()
		s.opens[res.Stateid.Other] = revocable{cred: cred, fh: res.FH, isOpen: true}
		if a.FH != nil && s.revokes > 0 {
			s.reopens++
		}
		s.mu.Unlock()
	}
	return res, err
}

func (s *revokingSession) Lock(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, a nfsclient.LockArgs) (nfsclient.Stateid, error) {
	sid, err := s.Session.Lock(ctx, cred, fh, a)
	if err == nil {
		s.mu.Lock()
		s.locks[sid.Other] = revocable{cred: cred, fh: fh}
		s.mu.Unlock()
	}
	return sid, err
}

// revoke revokes the open stateids (opens) or the lock stateids handed out so far.
func (s *revokingSession) revoke(opens bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokes++
	from := s.locks
	if opens {
		from = s.opens
	}
	for other, r := range from {
		s.revoked[other] = r
	}
}

func (s *revokingSession) TestStateids(ctx context.Context, cred rpc.Cred, ids []nfsclient.Stateid) ([]error, error) {
	res, err := s.Session.TestStateids(ctx, cred, ids)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, id := range ids {
		if _, ok := s.revoked[id.Other]; ok {
			res[i] = &nfsclient.Error{Op: "TEST_STATEID", Status: nfsv4.NFS4ERR_ADMIN_REVOKED}
		}
	}
	return res, nil
}

func (s *revokingSession) FreeStateid(ctx context.Context, cred rpc.Cred, id nfsclient.Stateid) error {
	s.mu.Lock()
	r, ok := s.revoked[id.Other]
	delete(s.revoked, id.Other)
	if ok {
		s.freed++
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return s.Session.FreeStateid(ctx, cred, id)
	case r.isOpen:
		return s.Session.CloseState(ctx, r.cred, r.fh, id)
	default:
		unlocked, err := s.Session.Unlock(ctx, r.cred, r.fh, id, nfsclient.WriteLock, 0, nfsclient.ToEOF)
		if err != nil {
			return err
		}
		return s.Session.FreeStateid(ctx, r.cred, unlocked)
	}
}

// TestRevokedOpenReopened: an open file whose open the server revoked is
// found with TEST_STATEID, freed, and opened again; its descriptor goes
// on writing as if nothing happened.
func TestRevokedOpenReopened(t *testing.T) {
	e, rs := mountRevoking(t)
	f, err := os.OpenFile(filepath.Join(e.mnt, "f"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("before;"); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	rs.revoke(true)
	e.srv.CheckRevoked(context.Background())
	if _, err := f.WriteAt([]byte("after"), 7); err != nil {
		t.Fatalf("write after the open was revoked and re-opened: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close after the open was revoked and re-opened: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(e.export, "f")); err != nil || string(b) != "before;after" {
		t.Fatalf("the file on the server: %q, %v", b, err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.freed != 1 || rs.reopens != 1 {
		t.Errorf("%d revoked stateids freed and %d re-opens, want 1 and 1", rs.freed, rs.reopens)
	}
}

// TestRevokedLockLosesFile: a file whose lock the server revoked is lost,
// as after a restart without grace: its descriptor fails with EIO, and a
// new open of the file locks and writes.
func TestRevokedLockLosesFile(t *testing.T) {
	e, rs := mountRevoking(t)
	p := filepath.Join(e.mnt, "locked")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Len: 10}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	rs.revoke(false)
	e.srv.CheckRevoked(context.Background())
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("write under a revoked lock: %v, want EIO", err)
	}
	g, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := syscall.FcntlFlock(g.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatalf("lock through a new open after the revocation: %v", err)
	}
	if _, err := g.WriteAt([]byte("new"), 0); err != nil {
		t.Fatalf("write through the new open: %v", err)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.freed != 1 {
		t.Errorf("%d revoked stateids freed, want 1", rs.freed)
	}
}
