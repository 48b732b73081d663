package fusefs

import (
	"bytes"
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// fakeStore is a Session that keeps written data and can "restart",
// losing what was written UNSTABLE since the last COMMIT.
type fakeStore struct {
	Session             // unused methods panic
	mu       sync.Mutex // writes arrive concurrently (write-behind)
	stable   []byte
	unstable map[uint64][]byte
	verf     [8]byte
	sync     int // FILE_SYNC writes seen
}

func (f *fakeStore) Write(_ context.Context, _ rpc.Cred, _ nfsclient.FH, _ nfsclient.Stateid, off uint64, data []byte, how nfsclient.Stability) (nfsclient.WriteResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if how == nfsclient.FileSync {
		f.sync++
		f.apply(off, data)
		return nfsclient.WriteResult{Count: uint32(len(data)), Committed: nfsclient.FileSync, Verifier: f.verf}, nil
	}
	f.unstable[off] = append([]byte(nil), data...)
	return nfsclient.WriteResult{Count: uint32(len(data)), Committed: nfsclient.Unstable, Verifier: f.verf}, nil
}

func (f *fakeStore) Commit(context.Context, rpc.Cred, nfsclient.FH, uint64, uint32) ([8]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for off, d := range f.unstable {
		f.apply(off, d)
	}
	clear(f.unstable)
	return f.verf, nil
}

func (f *fakeStore) apply(off uint64, d []byte) {
	if end := int(off) + len(d); end > len(f.stable) {
		f.stable = append(f.stable, make([]byte, end-len(f.stable))...)
	}
	copy(f.stable[off:], d)
}

func (f *fakeStore) restart() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.unstable)
	f.verf[0]++
}

func TestWritebackResendsAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		restart  bool
		wantSync int
	}{
		{"NoRestart", false, 0},
		{"RestartBeforeCommit", true, 3}, // 10 bytes in chunks of 4: 3 writes lost
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeStore{unstable: map[uint64][]byte{}}
			n := &node{fsys: &filesystem{budget: newBudget(0), sess: f, maxIO: 4, log: zap.NewNop()}}
			data := []byte("0123456789")
			if got, err := n.wb.write(context.Background(), rpc.Root, n, nfsclient.AnonymousStateid, data, 0); err != nil || got != len(data) {
				t.Fatalf("write = %d, %v", got, err)
			}
			if err := n.wb.drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tc.restart {
				f.restart()
			}
			if err := n.wb.commit(context.Background(), rpc.Root, n); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.stable, data) || f.sync != tc.wantSync {
				t.Fatalf("stable %q after %d FILE_SYNC resends, want %q after %d", f.stable, f.sync, data, tc.wantSync)
			}
			if n.wb.size() != 0 {
				t.Fatalf("%d bytes still kept after a good commit", n.wb.size())
			}
		})
	}
}

// slowStore delays every WRITE and records the order of arrival; fail
// makes WRITEs at that offset fail.
type slowStore struct {
	fakeStore
	delay time.Duration
	fail  uint64
	order []uint64
}

func (f *slowStore) Write(ctx context.Context, c rpc.Cred, fh nfsclient.FH, sid nfsclient.Stateid, off uint64, data []byte, how nfsclient.Stability) (nfsclient.WriteResult, error) {
	time.Sleep(f.delay)
	f.mu.Lock()
	f.order = append(f.order, off)
	f.mu.Unlock()
	if off == f.fail {
		return nfsclient.WriteResult{}, &nfsclient.Error{Op: "WRITE", Status: nfsv4.NFS4ERR_NOSPC}
	}
	return f.fakeStore.Write(ctx, c, fh, sid, off, data, how)
}

func TestWriteBehind(t *testing.T) {
	ctx := context.Background()
	t.Run("ReturnsBeforeTheWriteLands", func(t *testing.T) {
		f := &slowStore{fakeStore: fakeStore{unstable: map[uint64][]byte{}}, delay: 50 * time.Millisecond, fail: 1 << 62}
		n := &node{fsys: &filesystem{budget: newBudget(0), sess: f, maxIO: 1 << 20, log: zap.NewNop()}}
		start := time.Now()
		for i := 0; i < 8; i++ {
			if _, err := n.wb.write(ctx, rpc.Root, n, nfsclient.AnonymousStateid, []byte("abcd"), uint64(i*4)); err != nil {
				t.Fatal(err)
			}
		}
		if d := time.Since(start); d > 200*time.Millisecond {
			t.Fatalf("8 writes took %v: they waited for the server", d)
		}
		if err := n.wb.commit(ctx, rpc.Root, n); err != nil {
			t.Fatal(err)
		}
		if string(f.stable) != "abcdabcdabcdabcdabcdabcdabcdabcd" {
			t.Fatalf("stable = %q", f.stable)
		}
	})
	t.Run("OverlappingWritesKeepTheirOrder", func(t *testing.T) {
		f := &slowStore{fakeStore: fakeStore{unstable: map[uint64][]byte{}}, delay: 20 * time.Millisecond, fail: 1 << 62}
		n := &node{fsys: &filesystem{budget: newBudget(0), sess: f, maxIO: 1 << 20, log: zap.NewNop()}}
		for _, b := range []string{"first", "secnd", "third"} {
			if _, err := n.wb.write(ctx, rpc.Root, n, nfsclient.AnonymousStateid, []byte(b), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.wb.commit(ctx, rpc.Root, n); err != nil {
			t.Fatal(err)
		}
		if string(f.stable) != "third" {
			t.Fatalf("last write to reach the server left %q", f.stable)
		}
	})
	t.Run("FailureReportedOnce", func(t *testing.T) {
		f := &slowStore{fakeStore: fakeStore{unstable: map[uint64][]byte{}}, fail: 8}
		// maxIO 4: each write is a full WRITE, sent at once, not gathered.
		n := &node{fsys: &filesystem{budget: newBudget(0), sess: f, maxIO: 4, log: zap.NewNop()}}
		for i := 0; i < 3; i++ {
			if _, err := n.wb.write(ctx, rpc.Root, n, nfsclient.AnonymousStateid, []byte("abcd"), uint64(i*4)); err != nil {
				t.Fatal(err)
			}
		}
		err := n.wb.commit(ctx, rpc.Root, n)
		if nfsclient.ErrnoOf(err) != syscall.ENOSPC {
			t.Fatalf("commit after a failed WRITE: %v, want ENOSPC", err)
		}
		if err := n.wb.commit(ctx, rpc.Root, n); err != nil {
			t.Fatalf("the failure was reported twice: %v", err)
		}
	})
}

// Small writes are gathered; a file whose data is all still held at
// commit gets one FILE_SYNC WRITE and no COMMIT; a failure of that WRITE
// is commit's own error.
func TestGatheredCommit(t *testing.T) {
	ctx := context.Background()
	f := &slowStore{fakeStore: fakeStore{unstable: map[uint64][]byte{}}, fail: 1 << 62}
	n := &node{fsys: &filesystem{budget: newBudget(0), sess: f, maxIO: 1 << 20, log: zap.NewNop()}}
	for i := 0; i < 16; i++ {
		if _, err := n.wb.write(ctx, rpc.Root, n, nfsclient.AnonymousStateid, []byte("0123456789abcdef"), uint64(i*16)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.wb.commit(ctx, rpc.Root, n); err != nil {
		t.Fatal(err)
	}
	if len(f.order) != 1 || f.sync != 1 || len(f.stable) != 256 {
		t.Fatalf("%d WRITEs (%d FILE_SYNC), %d bytes stable; want one FILE_SYNC WRITE of 256", len(f.order), f.sync, len(f.stable))
	}

	f2 := &slowStore{fakeStore: fakeStore{unstable: map[uint64][]byte{}}, fail: 0}
	n2 := &node{fsys: &filesystem{budget: newBudget(0), sess: f2, maxIO: 1 << 20, log: zap.NewNop()}}
	if _, err := n2.wb.write(ctx, rpc.Root, n2, nfsclient.AnonymousStateid, []byte("doomed"), 0); err != nil {
		t.Fatal(err)
	}
	if err := n2.wb.commit(ctx, rpc.Root, n2); nfsclient.ErrnoOf(err) != syscall.ENOSPC {
		t.Fatalf("commit of a held write that failed: %v, want ENOSPC", err)
	}
}

// failingCommitStore fails its next failCommits COMMITs, as a server
// that cannot make the data durable (or stopped answering a soft mount)
// would.
type failingCommitStore struct {
	fakeStore
	failCommits int
}

func (f *failingCommitStore) Commit(ctx context.Context, c rpc.Cred, fh nfsclient.FH, off uint64, count uint32) ([8]byte, error) {
	f.mu.Lock()
	fail := f.failCommits > 0
	if fail {
		f.failCommits--
	}
	f.mu.Unlock()
	if fail {
		return [8]byte{}, &nfsclient.Error{Op: "COMMIT", Status: nfsv4.NFS4ERR_IO}
	}
	return f.fakeStore.Commit(ctx, c, fh, off, count)
}

// TestFsyncCommitFailure: fsync whose COMMIT fails reports the error and
// keeps every uncommitted write; the next fsync sends them again (the
// server lost them meanwhile) and succeeds only once they are durable.
func TestFsyncCommitFailure(t *testing.T) {
	ctx := context.Background()
	f := &failingCommitStore{fakeStore: fakeStore{unstable: map[uint64][]byte{}}, failCommits: 1}
	// maxIO 4: the write goes out at once as three UNSTABLE WRITEs.
	n := &node{fsys: &filesystem{budget: newBudget(0), sess: f, maxIO: 4, log: zap.NewNop()}}
	h := newFileHandle(n, &openState{n: n}, rpc.Root)
	data := []byte("0123456789")
	if got, e := h.Write(ctx, data, 0); e != 0 || got != uint32(len(data)) {
		t.Fatalf("write = %d, %v", got, e)
	}
	if e := h.Fsync(ctx, 0); e != syscall.EIO {
		t.Fatalf("fsync with a failing COMMIT = %v, want EIO", e)
	}
	if n.wb.size() != len(data) {
		t.Fatalf("%d bytes kept after a failed COMMIT, want all %d for a retry", n.wb.size(), len(data))
	}
	if len(f.stable) != 0 {
		t.Fatalf("stable %q although no COMMIT succeeded", f.stable)
	}
	// The server restarts before the retry: only the kept copies can
	// bring the data back.
	f.restart()
	if e := h.Fsync(ctx, 0); e != 0 {
		t.Fatalf("fsync retry: %v", e)
	}
	if !bytes.Equal(f.stable, data) || f.sync != 3 {
		t.Fatalf("stable %q after %d FILE_SYNC resends, want %q after 3", f.stable, f.sync, data)
	}
	if n.wb.size() != 0 {
		t.Fatalf("%d bytes still kept after a good fsync", n.wb.size())
	}
}

func TestParseGroups(t *testing.T) {
	status := []byte("Name:\tcat\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 30 46 100 101 102 103 104 105 106 107 108 109 110 111 112\nNgid:\t0\n")
	g := parseGroups(status)
	if len(g) != rpc.MaxGroups || g[0] != 4 || g[15] != 110 {
		t.Fatalf("groups = %v, want the first %d", g, rpc.MaxGroups)
	}
	if g := parseGroups([]byte("Groups:\t\n")); len(g) != 0 {
		t.Fatalf("empty Groups line gave %v", g)
	}
}
