package fusefs_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// slowClose is the real session with each CLOSE held for a while before
// it is sent, as a busy host does to the RELEASE the kernel sends
// asynchronously after close(2). It notes every OPEN of a file that went
// out while a CLOSE of that file was on its way.
type slowClose struct {
	fusefs.Session
	delay time.Duration

	mu        sync.Mutex
	closing   map[string]int // CLOSEs under way, by file handle
	closes    int
	overtakes int // OPENs sent while a CLOSE of the same file was under way
}

func (s *slowClose) CloseState(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, st nfsclient.Stateid) error {
	s.mu.Lock()
	s.closing[string(fh)]++
	s.closes++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.closing[string(fh)]--
		s.mu.Unlock()
	}()
	time.Sleep(s.delay)
	return s.Session.CloseState(ctx, cred, fh, st)
}

func (s *slowClose) Open(ctx context.Context, cred rpc.Cred, a nfsclient.OpenArgs) (nfsclient.OpenResult, error) {
	s.mu.Lock()
	if a.FH != nil && s.closing[string(a.FH)] > 0 {
		s.overtakes++
	}
	s.mu.Unlock()
	return s.Session.Open(ctx, cred, a)
}

// TestReopenWhileClosing: a file reopened while the CLOSE of its last open
// is on its way waits for that CLOSE. The server keeps one open stateid
// per owner and file, and nfs-ganesha, given the OPEN and the CLOSE at the
// same time, can close the state the OPEN just answered with: O_TRUNC's
// SETATTR, WRITEs and LOCKs under the new open then failed with
// BAD_STATEID, seen as EIO (TruncateRightAfterClose and
// FlockAfterAnotherProcessExits failed that way about once in 40 runs on
// a loaded machine).
func TestReopenWhileClosing(t *testing.T) {
	var slow *slowClose
	e := mount(t, func(o *fusefs.Options) {
		slow = &slowClose{Session: o.Session, delay: 50 * time.Millisecond, closing: map[string]int{}}
		o.Session = slow
	})
	p := filepath.Join(e.mnt, "reopened")
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(p, []byte("hello world"), 0o644); err != nil {
			t.Fatalf("round %d: write: %v", i, err)
		}
		// Reopen at once, with O_TRUNC (a SETATTR under the new open),
		// and write under it.
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", i, err)
		}
		if _, err := f.Write([]byte("again")); err != nil {
			t.Fatalf("round %d: write under the new open: %v", i, err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("round %d: close: %v", i, err)
		}
		if got, err := os.ReadFile(filepath.Join(e.export, "reopened")); err != nil || string(got) != "again" {
			t.Fatalf("round %d: export holds %q, %v", i, got, err)
		}
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.closes == 0 {
		t.Fatal("no CLOSE went through the slowed session: the test did not test the race")
	}
	if slow.overtakes > 0 {
		t.Errorf("%d OPENs went out while a CLOSE of the same file was under way", slow.overtakes)
	}
}
