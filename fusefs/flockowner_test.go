package fusefs

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// lockWatch is the real session, noting which lock stateids LOCKU and
// FREE_STATEID were sent for.
type lockWatch struct {
	Session
	mu       sync.Mutex
	unlocked map[[12]byte]int   // LOCKUs by lock stateid
	freed    map[[12]byte]error // FREE_STATEID outcome by lock stateid
}

func (w *lockWatch) Unlock(ctx context.Context, cred rpc.Cred, fh nfsclient.FH, sid nfsclient.Stateid, typ nfsclient.LockType, off, length uint64) (nfsclient.Stateid, error) {
	w.mu.Lock()
	w.unlocked[sid.Other]++
	w.mu.Unlock()
	return w.Session.Unlock(ctx, cred, fh, sid, typ, off, length)
}

func (w *lockWatch) FreeStateid(ctx context.Context, cred rpc.Cred, sid nfsclient.Stateid) error {
	err := w.Session.FreeStateid(ctx, cred, sid)
	w.mu.Lock()
	w.freed[sid.Other] = err
	w.mu.Unlock()
	return err
}

// flockEnv is a file on a real local target, as a node of a filesystem
// with no kernel mount: the test drives the handles itself.
type flockEnv struct {
	c *nfsclient.Client
	w *lockWatch
	n *node
}

func newFlockEnv(t *testing.T) *flockEnv {
	t.Helper()
	export := t.TempDir()
	if err := os.WriteFile(filepath.Join(export, "f"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	c := DialTestSession(t, export)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fh, _, err := c.LookupPath(ctx, rpc.Root, "/f")
	if err != nil {
		t.Fatal(err)
	}
	w := &lockWatch{Session: c, unlocked: map[[12]byte]int{}, freed: map[[12]byte]error{}}
	fsys := &filesystem{budget: newBudget(0), sess: w, log: zaptest.NewLogger(t), maxIO: 1 << 20, opens: map[*openState]struct{}{}}
	return &flockEnv{c: c, w: w, n: &node{fsys: fsys, fh: fh}}
}

// open is what node.Open does for a caller of uid 0, without the kernel.
func (e *flockEnv) open(t *testing.T) *fileHandle {
	t.Helper()
	st, _, err := e.n.acquireOpen(context.Background(), rpc.Root, nfsclient.ShareBoth)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return newFileHandle(e.n, st, rpc.Root)
}

// heldByOther reports whether an owner of our own that never locked
// anything would be refused a write lock on the file (LOCKT).
func (e *flockEnv) heldByOther(t *testing.T) bool {
	t.Helper()
	c, err := e.c.TestLock(context.Background(), rpc.Root, e.n.getFH(), nfsclient.WriteLock, 0, nfsclient.ToEOF, []byte("probe"))
	if err != nil {
		t.Fatalf("LOCKT: %v", err)
	}
	return c != nil
}

func flock(typ uint32) *fuse.FileLock {
	return &fuse.FileLock{Start: 0, End: math.MaxInt64, Typ: typ}
}

// TestFlockOwnerReused: a flock lock belongs to its open file description.
// The kernel names it by the address of its struct file, and once a
// process exits holding a flock, may give that address to the next open
// of the file before the exited process's RELEASE reaches us. Two handles
// of one user with the same FUSE owner value must not share an NFS
// lock-owner, or the late RELEASE unlocks the new holder's lock.
//
// The kernel cannot be made to reuse an address on demand, so the test
// calls the handle methods the FUSE requests would (Setlk, Release) on two
// handles of one open state, with the same owner value, against the real
// server.
func TestFlockOwnerReused(t *testing.T) {
	e := newFlockEnv(t)
	ctx := context.Background()
	const owner = 0xfeedface
	a, b := e.open(t), e.open(t)
	if a.st != b.st {
		t.Fatal("the two handles do not share an open state: the test would not test the bug")
	}

	if errno := a.Setlk(ctx, owner, flock(syscall.F_WRLCK), fuse.FUSE_LK_FLOCK); errno != 0 {
		t.Fatalf("flock through A: %v", errno)
	}
	// B's open file description is another one: its flock conflicts,
	// owner value or not (with a shared lock-owner it was granted).
	if errno := b.Setlk(ctx, owner, flock(syscall.F_WRLCK), fuse.FUSE_LK_FLOCK); errno != syscall.EAGAIN {
		t.Fatalf("flock through B while A holds one: %v, want EAGAIN", errno)
	}
	// A lets go (A's lock state on the server stays, with a stateid),
	// B takes the lock, and only then does A's RELEASE arrive: the
	// order of the exited process's late RELEASE.
	if errno := a.Setlk(ctx, owner, flock(syscall.F_UNLCK), fuse.FUSE_LK_FLOCK); errno != 0 {
		t.Fatalf("unflock through A: %v", errno)
	}
	if errno := b.Setlk(ctx, owner, flock(syscall.F_WRLCK), fuse.FUSE_LK_FLOCK); errno != 0 {
		t.Fatalf("flock through B after A let go: %v", errno)
	}
	aState := a.flocks[owner]
	bState := b.flocks[owner]
	if aState == nil || bState == nil || aState.stateid == nil || bState.stateid == nil {
		t.Fatal("no flock lock state on A or B")
	}
	aSid, bSid := aState.stateid.Other, bState.stateid.Other
	if aSid == bSid {
		t.Fatal("A and B share a lock stateid")
	}

	if errno := a.Release(ctx); errno != 0 {
		t.Fatalf("release A: %v", errno)
	}
	if !e.heldByOther(t) {
		t.Fatal("A's release unlocked the flock B holds")
	}
	e.w.mu.Lock()
	err, freed := e.w.freed[aSid]
	bUnlocks := e.w.unlocked[bSid]
	e.w.mu.Unlock()
	if !freed || err != nil {
		t.Fatalf("A's lock state after its release: FREE_STATEID sent %v, error %v; want sent and accepted", freed, err)
	}
	if bUnlocks != 0 {
		t.Fatalf("A's release sent %d LOCKUs for B's lock stateid", bUnlocks)
	}
	b.st.mu.Lock()
	for ls := range b.st.allLocks() {
		if ls == aState {
			t.Error("A's freed lock state is still kept on the open state")
		}
	}
	b.st.mu.Unlock()

	if errno := b.Release(ctx); errno != 0 {
		t.Fatalf("release B: %v", errno)
	}
	if e.heldByOther(t) {
		t.Fatal("B's flock survives B's release")
	}
	e.w.mu.Lock()
	err, freed = e.w.freed[bSid]
	e.w.mu.Unlock()
	if !freed || err != nil {
		t.Fatalf("B's lock state after its release: FREE_STATEID sent %v, error %v", freed, err)
	}
}

// TestFlockStatesDoNotPileUp: a file kept open by one handle while others
// flock it and go away keeps no lock state of theirs, here or (after
// FREE_STATEID) on the server.
func TestFlockStatesDoNotPileUp(t *testing.T) {
	e := newFlockEnv(t)
	ctx := context.Background()
	keep := e.open(t)
	const rounds = 10
	for i := 0; i < rounds; i++ {
		h := e.open(t)
		if errno := h.Setlk(ctx, uint64(i%2), flock(syscall.F_RDLCK), fuse.FUSE_LK_FLOCK); errno != 0 {
			t.Fatalf("round %d: flock: %v", i, errno)
		}
		if errno := h.Release(ctx); errno != 0 {
			t.Fatalf("round %d: release: %v", i, errno)
		}
	}
	keep.st.mu.Lock()
	left := len(keep.st.locks) + len(keep.st.flocks)
	keep.st.mu.Unlock()
	if left != 0 {
		t.Errorf("%d lock states left on the open state after %d flocking handles came and went", left, rounds)
	}
	e.w.mu.Lock()
	freed := 0
	for _, err := range e.w.freed {
		if err == nil {
			freed++
		}
	}
	e.w.mu.Unlock()
	if freed != rounds {
		t.Errorf("%d lock states freed on the server, want %d", freed, rounds)
	}
	if errno := keep.Release(ctx); errno != 0 {
		t.Fatalf("release: %v", errno)
	}
}

// TestFlockOwnerValueTakenByPosixOwner: a POSIX owner with the same value
// as a handle's flock owner gets a state of its own, and the flock state is
// still found by its handle and among the open state's locks (for unlock
// before CLOSE and reclaim); two handles never share an NFS lock-owner.
func TestFlockOwnerValueTakenByPosixOwner(t *testing.T) {
	st := &openState{cred: rpc.Cred{UID: 7}}
	h := &fileHandle{st: st}
	fl := h.flockFor(42)
	posix := st.lockFor(42)
	if posix == fl {
		t.Fatal("the POSIX owner got the flock state")
	}
	if h.flockFor(42) != fl {
		t.Fatal("the handle lost its flock state")
	}
	found := map[*lockState]bool{}
	for ls := range st.allLocks() {
		found[ls] = true
	}
	if !found[fl] || !found[posix] || len(found) != 2 {
		t.Fatalf("the open state's locks: flock %v, POSIX %v, %d states", found[fl], found[posix], len(found))
	}
	if h2 := (&fileHandle{st: st}); string(h2.flockFor(42).owner) == string(fl.owner) {
		t.Fatal("two handles share an NFS lock-owner name")
	}
}
