package nfsclient_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"github.com/efs-fuse/efs-fuse/tunnel"
	"go.uber.org/zap/zaptest"
)

var (
	root = rpc.Root
	user = rpc.Cred{UID: 1000, GID: 1000}
)

// env is one local target and one client over TLS to it.
type env struct {
	export string
	tgt    *localtarget.Target
	c      *nfsclient.Client
	root   nfsclient.FH
}

func newEnv(t *testing.T) *env {
	t.Helper()
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	c := dialTLS(t, tgt)
	fh, _, err := c.LookupPath(context.Background(), root, "/")
	if err != nil {
		t.Fatalf("look up the export root: %v", err)
	}
	return &env{export: export, tgt: tgt, c: c, root: fh}
}

func dialTLS(t testing.TB, tgt *localtarget.Target, opts ...func(*nfsclient.Config)) *nfsclient.Client {
	t.Helper()
	return dial(t, tlsDialer(t, tgt), opts...)
}

func tlsDialer(t testing.TB, tgt *localtarget.Target) func(context.Context) (net.Conn, error) {
	t.Helper()
	d, err := tunnel.NewDialer(tunnel.Config{Addr: tgt.Addr(), ServerName: tgt.ServerName(), CAFile: tgt.CAFile(), Verify: 2, CheckHostname: true})
	if err != nil {
		t.Fatal(err)
	}
	return d.DialContext
}

// dial sets up a session; opts adjust the Config before Dial. The session
// is closed in t.Cleanup (Close is idempotent if the test closed it).
func dial(t testing.TB, dialer func(context.Context) (net.Conn, error), opts ...func(*nfsclient.Config)) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := nfsclient.Config{
		Dial:    dialer,
		OwnerID: fmt.Sprintf("efs-fuse-test/%s/%d", t.Name(), time.Now().UnixNano()),
		Logger:  zaptest.NewLogger(t),
	}
	for _, o := range opts {
		o(&cfg)
	}
	c, err := nfsclient.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("session bring-up: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close session: %v", err)
		}
	})
	return c
}

func errnoOf(err error) syscall.Errno { return nfsclient.ErrnoOf(err) }

func TestIntegration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.c

	t.Run("BringUp", func(t *testing.T) {
		if c.MaxRead() != 1<<20 || c.MaxWrite() != 1<<20 {
			t.Errorf("max read/write = %d/%d, want 1 MiB", c.MaxRead(), c.MaxWrite())
		}
		if c.Slots() < 2 {
			t.Errorf("session has %d slots", c.Slots())
		}
		if c.Lease() <= 0 {
			t.Errorf("lease = %v", c.Lease())
		}
		if err := c.Null(ctx); err != nil {
			t.Errorf("NULL: %v", err)
		}
	})

	t.Run("Operations", func(t *testing.T) { testOperations(t, e) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, e) })
	t.Run("Permissions", func(t *testing.T) { testPermissions(t, e) })
	t.Run("HundredInFlight", func(t *testing.T) { testInFlight(t, e) })
	t.Run("BigFile", func(t *testing.T) { testBigFile(t, e) })
	t.Run("BigDirectory", func(t *testing.T) { testBigDir(t, e) })
}

func testOperations(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.c
	mode := func(m uint32) nfsclient.SetAttr { return nfsclient.SetAttr{Mode: &m} }

	dir, dattr, err := c.Create(ctx, root, e.root, "ops", nfsclient.CreateDir, "", mode(0o755))
	if err != nil {
		t.Fatalf("CREATE dir: %v", err)
	}
	if dattr.Type != nfsclient.TypeDir || dattr.Mode != 0o755 {
		t.Fatalf("new dir attrs = type %d mode %o", dattr.Type, dattr.Mode)
	}
	if fi, err := os.Stat(filepath.Join(e.export, "ops")); err != nil || !fi.IsDir() {
		t.Fatalf("export dir has no ops/: %v", err)
	}

	// OPEN with GUARDED create, WRITE, COMMIT, READ, CLOSE.
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: dir, Name: "f", Access: nfsclient.ShareBoth, Create: nfsclient.Guarded, Attrs: mode(0o640)})
	if err != nil {
		t.Fatalf("OPEN create: %v", err)
	}
	data := []byte("hello, efs-fuse")
	w, err := c.Write(ctx, root, o.FH, o.Stateid, 0, data, nfsclient.Unstable)
	if err != nil || w.Count != uint32(len(data)) {
		t.Fatalf("WRITE = %+v, %v", w, err)
	}
	verf, err := c.Commit(ctx, root, o.FH, 0, 0)
	if err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	if w.Committed == nfsclient.Unstable && verf != w.Verifier {
		t.Fatalf("COMMIT verifier %x differs from WRITE's %x with no server restart", verf, w.Verifier)
	}
	buf := make([]byte, 100)
	n, eof, err := c.Read(ctx, root, o.FH, o.Stateid, 0, buf)
	if err != nil || !bytes.Equal(buf[:n], data) || !eof {
		t.Fatalf("READ = %q eof=%v, %v", buf[:n], eof, err)
	}
	if got, _ := os.ReadFile(filepath.Join(e.export, "ops", "f")); !bytes.Equal(got, data) {
		t.Fatalf("backing file holds %q", got)
	}
	if _, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: dir, Name: "f", Access: nfsclient.ShareRead, Create: nfsclient.Guarded}); errnoOf(err) != syscall.EEXIST {
		t.Fatalf("GUARDED create of an existing file: %v, want EEXIST", err)
	}
	// OPEN_DOWNGRADE may only go back to an access mode this open-owner
	// opened with before (RFC 8881 section 18.18.3): open for READ too.
	ro, err := c.Open(ctx, root, nfsclient.OpenArgs{FH: o.FH, Access: nfsclient.ShareRead})
	if err != nil || ro.Stateid.Other != o.Stateid.Other {
		t.Fatalf("second OPEN by the same owner: %v (stateid %x, first %x)", err, ro.Stateid.Other, o.Stateid.Other)
	}
	sid, err := c.OpenDowngrade(ctx, root, o.FH, ro.Stateid, nfsclient.ShareRead)
	if err != nil {
		t.Fatalf("OPEN_DOWNGRADE: %v", err)
	}
	// (ganesha 4.3 does not refuse WRITE on a read-only open stateid, so
	// the effect is checked through the stateid's sequence instead.)
	if sid.Other != ro.Stateid.Other || sid.Seqid <= ro.Stateid.Seqid {
		t.Fatalf("OPEN_DOWNGRADE stateid %d/%x after %d/%x", sid.Seqid, sid.Other, ro.Stateid.Seqid, ro.Stateid.Other)
	}
	if err := c.CloseState(ctx, root, o.FH, sid); err != nil {
		t.Fatalf("CLOSE: %v", err)
	}

	// CLAIM_FH open of a known handle, and EXCLUSIVE4_1 create retried.
	o2, err := c.Open(ctx, root, nfsclient.OpenArgs{FH: o.FH, Access: nfsclient.ShareRead})
	if err != nil {
		t.Fatalf("OPEN CLAIM_FH: %v", err)
	}
	_ = c.CloseState(ctx, root, o2.FH, o2.Stateid)
	ex := nfsclient.OpenArgs{Dir: dir, Name: "x", Access: nfsclient.ShareBoth, Create: nfsclient.Exclusive, Verifier: [8]byte{1, 2, 3}, Attrs: mode(0o600)}
	x1, err := c.Open(ctx, root, ex)
	if err != nil {
		t.Fatalf("OPEN EXCLUSIVE4_1: %v", err)
	}
	x2, err := c.Open(ctx, root, ex)
	if err != nil || !bytes.Equal(x1.FH, x2.FH) {
		t.Fatalf("retried EXCLUSIVE4_1 with the same verifier: %v", err)
	}
	ex.Verifier = [8]byte{9}
	if _, err := c.Open(ctx, root, ex); errnoOf(err) != syscall.EEXIST {
		t.Fatalf("EXCLUSIVE4_1 with another verifier: %v, want EEXIST", err)
	}
	_ = c.CloseState(ctx, root, x2.FH, x2.Stateid)

	// GETATTR / SETATTR: mode, owner, size, times.
	uid, gid := uint32(1234), uint32(5678)
	size := uint64(5)
	mtime := time.Unix(1700000000, 123456789)
	a, err := c.Setattr(ctx, root, o.FH, nfsclient.AnonymousStateid, nfsclient.SetAttr{
		UID: &uid, GID: &gid, Size: &size, Mtime: &nfsclient.SetTime{Time: mtime}, Atime: &nfsclient.SetTime{Now: true},
	})
	if err != nil {
		t.Fatalf("SETATTR: %v", err)
	}
	if a.UID != uid || a.GID != gid || a.Size != size || !a.Mtime.Equal(mtime) {
		t.Fatalf("after SETATTR: uid %d gid %d size %d mtime %v", a.UID, a.GID, a.Size, a.Mtime)
	}
	fi, _ := os.Stat(filepath.Join(e.export, "ops", "f"))
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid || fi.Size() != 5 || !fi.ModTime().Equal(mtime) {
		t.Fatalf("backing file: uid %d gid %d size %d mtime %v", st.Uid, st.Gid, fi.Size(), fi.ModTime())
	}
	g, err := c.Getattr(ctx, root, o.FH)
	if err != nil || g.FileID != st.Ino || g.NumLinks != 1 || g.Type != nfsclient.TypeReg || g.Mode != 0o640 {
		t.Fatalf("GETATTR = %+v, %v (inode %d)", g, err, st.Ino)
	}

	// LOOKUP, LOOKUPP, ACCESS.
	fh, la, err := c.Lookup(ctx, root, dir, "f")
	if err != nil || !bytes.Equal(fh, o.FH) || la.FileID != g.FileID {
		t.Fatalf("LOOKUP: %v", err)
	}
	if _, _, err := c.Lookup(ctx, root, dir, "missing"); errnoOf(err) != syscall.ENOENT {
		t.Fatalf("LOOKUP missing: %v, want ENOENT", err)
	}
	pfh, _, err := c.LookupParent(ctx, root, dir)
	if err != nil || !bytes.Equal(pfh, e.root) {
		t.Fatalf("LOOKUPP: %v", err)
	}
	acc, err := c.Access(ctx, root, fh, nfsclient.AccessRead|nfsclient.AccessModify)
	if err != nil || acc&nfsclient.AccessRead == 0 {
		t.Fatalf("ACCESS = %#x, %v", acc, err)
	}

	// LINK, symlink, READLINK, FIFO, socket, RENAME, READDIR, REMOVE.
	la, err = c.Link(ctx, root, fh, dir, "hard")
	if err != nil || la.NumLinks != 2 {
		t.Fatalf("LINK: nlink %d, %v", la.NumLinks, err)
	}
	lfh, _, err := c.Create(ctx, root, dir, "sym", nfsclient.CreateSymlink, "f", nfsclient.SetAttr{})
	if err != nil {
		t.Fatalf("CREATE symlink: %v", err)
	}
	if target, err := c.Readlink(ctx, root, lfh); err != nil || target != "f" {
		t.Fatalf("READLINK = %q, %v", target, err)
	}
	if target, _ := os.Readlink(filepath.Join(e.export, "ops", "sym")); target != "f" {
		t.Fatalf("backing symlink -> %q", target)
	}
	for name, kind := range map[string]nfsclient.CreateKind{"fifo": nfsclient.CreateFIFO, "sock": nfsclient.CreateSocket} {
		_, a, err := c.Create(ctx, root, dir, name, kind, "", mode(0o644))
		if err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
		fi, err := os.Lstat(filepath.Join(e.export, "ops", name))
		want := map[string]os.FileMode{"fifo": os.ModeNamedPipe, "sock": os.ModeSocket}[name]
		if err != nil || fi.Mode().Type() != want {
			t.Fatalf("backing %s has mode %v, %v (attr type %d)", name, fi.Mode(), err, a.Type)
		}
	}
	if err := c.Rename(ctx, root, dir, "hard", e.root, "moved"); err != nil {
		t.Fatalf("RENAME: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.export, "moved")); err != nil {
		t.Fatalf("rename not visible in the export: %v", err)
	}
	ents, err := c.ReadDirAll(ctx, root, dir)
	if err != nil {
		t.Fatalf("READDIR: %v", err)
	}
	var names []string
	for _, d := range ents {
		names = append(names, d.Name)
		if d.Name == "f" && (d.Attr.FileID != g.FileID || !bytes.Equal(d.Attr.FH, fh)) {
			t.Errorf("READDIR entry f: fileid %d fh %x", d.Attr.FileID, d.Attr.FH)
		}
	}
	sort.Strings(names)
	if fmt.Sprint(names) != "[f fifo sock sym x]" {
		t.Fatalf("READDIR names = %v", names)
	}
	if err := c.Remove(ctx, root, dir, "x"); err != nil {
		t.Fatalf("REMOVE: %v", err)
	}
	if err := c.Remove(ctx, root, e.root, "ops"); errnoOf(err) != syscall.ENOTEMPTY {
		t.Fatalf("REMOVE non-empty dir: %v, want ENOTEMPTY", err)
	}

	// Filesystem attributes for statfs.
	fs, err := c.FSAttr(ctx, root, dir)
	if err != nil || fs.SpaceTotal == 0 || fs.SpaceAvail > fs.SpaceTotal || fs.MaxName == 0 {
		t.Fatalf("FSAttr = %+v, %v", fs, err)
	}
}

func testLocks(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.c
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: e.root, Name: "locked", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseState(ctx, root, o.FH, o.Stateid)
	a, b := []byte("owner-a"), []byte("owner-b")
	lsid, err := c.Lock(ctx, root, o.FH, nfsclient.LockArgs{Type: nfsclient.WriteLock, Offset: 0, Length: 100, OpenStateid: o.Stateid, Owner: a})
	if err != nil {
		t.Fatalf("LOCK: %v", err)
	}
	_, err = c.Lock(ctx, root, o.FH, nfsclient.LockArgs{Type: nfsclient.ReadLock, Offset: 50, Length: 10, OpenStateid: o.Stateid, Owner: b})
	var denied *nfsclient.LockDeniedError
	if !errors.As(err, &denied) || errnoOf(err) != syscall.EAGAIN || denied.Conflict.Offset != 0 || denied.Conflict.Length != 100 {
		t.Fatalf("conflicting LOCK: %v", err)
	}
	if conflict, err := c.TestLock(ctx, root, o.FH, nfsclient.WriteLock, 10, 1, b); err != nil || conflict == nil || !bytes.Equal(conflict.Owner, a) {
		t.Fatalf("LOCKT = %+v, %v", conflict, err)
	}
	if conflict, err := c.TestLock(ctx, root, o.FH, nfsclient.WriteLock, 200, 1, b); err != nil || conflict != nil {
		t.Fatalf("LOCKT past the lock = %+v, %v", conflict, err)
	}
	if _, err := c.Unlock(ctx, root, o.FH, lsid, nfsclient.WriteLock, 0, 100); err != nil {
		t.Fatalf("LOCKU: %v", err)
	}
	if conflict, err := c.TestLock(ctx, root, o.FH, nfsclient.WriteLock, 10, 1, b); err != nil || conflict != nil {
		t.Fatalf("LOCKT after LOCKU = %+v, %v", conflict, err)
	}
}

// testPermissions checks that each call carries its own AUTH_SYS identity
// and the server decides: uid 1000 cannot read root's 0600 file, and files
// it creates belong to it.
func testPermissions(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.c
	m := uint32(0o600)
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: e.root, Name: "secret", Access: nfsclient.ShareBoth, Create: nfsclient.Guarded, Attrs: nfsclient.SetAttr{Mode: &m}})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.CloseState(ctx, root, o.FH, o.Stateid)
	if _, err := c.Open(ctx, user, nfsclient.OpenArgs{Dir: e.root, Name: "secret", Access: nfsclient.ShareRead}); errnoOf(err) != syscall.EACCES {
		t.Fatalf("uid 1000 opening root's 0600 file: %v, want EACCES", err)
	}
	u, err := c.Open(ctx, user, nfsclient.OpenArgs{Dir: e.root, Name: "mine", Access: nfsclient.ShareBoth, Create: nfsclient.Guarded, Attrs: nfsclient.SetAttr{Mode: &m}})
	if err != nil {
		t.Fatalf("uid 1000 creating in a 0777 dir: %v", err)
	}
	_ = c.CloseState(ctx, user, u.FH, u.Stateid)
	fi, err := os.Stat(filepath.Join(e.export, "mine"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != 1000 || u.Attr.UID != 1000 {
		t.Fatalf("file created by uid 1000 is owned by %d (attr %d)", fi.Sys().(*syscall.Stat_t).Uid, u.Attr.UID)
	}
}

// testInFlight proves 100 calls run at once on one connection of one
// session: a client asking for 128 slots gets them, and with 400 ms added
// each way by the target's delay fault, 100 GETATTRs sent together are all
// on the wire before any reply comes back and finish in about one round
// trip. Were only 64 slots granted (ganesha's default), the other 36 would
// wait for a reply and take a second round trip.
func testInFlight(t *testing.T, e *env) {
	const calls, slots = 100, 128
	const latency = 400 * time.Millisecond
	rd := &recordingDialer{base: tlsDialer(t, e.tgt)}
	c := dial(t, rd.dial, func(cfg *nfsclient.Config) { cfg.MaxRequests = slots })
	if c.Slots() < calls {
		t.Fatalf("session has %d slots (asked for %d), want at least %d", c.Slots(), slots, calls)
	}
	ctx := context.Background()
	if _, err := c.Getattr(ctx, root, e.root); err != nil { // warm ganesha's caches
		t.Fatal(err)
	}

	e.tgt.Delay(latency, time.Minute)
	defer e.tgt.Heal()
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	start := time.Now()
	for i := 0; i < calls; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Getattr(ctx, root, e.root); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	e.tgt.Heal()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	w := rd.only(t)
	if n := c.Stats().Reconnects; n != 0 {
		t.Fatalf("%d reconnects; want all calls on one connection", n)
	}
	if p := w.peakOutstanding(); p < calls {
		t.Errorf("at most %d calls were outstanding on the connection, want %d", p, calls)
	}
	// The wire count above is the exact check; the clock only confirms
	// that the calls did not run one after another (100 round trips),
	// with room for a loaded machine: one batch takes one round trip of
	// 2*latency, but -race on 2 busy cores has stretched it to 2.5.
	if elapsed >= 10*2*latency {
		t.Errorf("%d delayed calls took %v, ten round trips of %v: they did not overlap", calls, elapsed, 2*latency)
	}
	t.Logf("%d GETATTRs on %d slots with %v each way: %v; peak outstanding %d", calls, c.Slots(), latency, elapsed, w.peakOutstanding())
}

// recordingDialer wraps every connection it dials in a wireLog.
type recordingDialer struct {
	base  func(context.Context) (net.Conn, error)
	mu    sync.Mutex
	conns []*wireLog
}

func (d *recordingDialer) dial(ctx context.Context) (net.Conn, error) {
	nc, err := d.base(ctx)
	if err != nil {
		return nil, err
	}
	w := &wireLog{Conn: nc}
	d.mu.Lock()
	d.conns = append(d.conns, w)
	d.mu.Unlock()
	return w, nil
}

// only returns the one connection dialled, failing if there were more.
func (d *recordingDialer) only(t testing.TB) *wireLog {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.conns) != 1 {
		t.Fatalf("%d connections dialled, want 1", len(d.conns))
	}
	return d.conns[0]
}

// wireLog records the RPC records a client writes (calls) and reads
// (replies) on one connection, each with when it was complete, and the
// most calls outstanding at once.
type wireLog struct {
	net.Conn
	mu                sync.Mutex
	out, in           recordSplitter
	calls, replies    []wireRecord
	outstanding, peak int
}

type wireRecord struct {
	at   time.Time
	data []byte // the record without its marks
}

func (w *wireLog) Write(p []byte) (int, error) {
	n, err := w.Conn.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	recs := w.out.feed(p[:n])
	w.calls = append(w.calls, recs...)
	w.outstanding += len(recs)
	w.peak = max(w.peak, w.outstanding)
	return n, err
}

func (w *wireLog) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	recs := w.in.feed(p[:n])
	w.replies = append(w.replies, recs...)
	w.outstanding -= len(recs)
	return n, err
}

func (w *wireLog) peakOutstanding() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.peak
}

// recordSplitter reassembles RPC records (RFC 5531 section 11 record
// marking) from a stream cut anywhere.
type recordSplitter struct{ buf []byte }

func (s *recordSplitter) feed(p []byte) (recs []wireRecord) {
	s.buf = append(s.buf, p...)
	for {
		var rec []byte
		off := 0
		for last := false; !last; {
			if len(s.buf)-off < 4 {
				return recs
			}
			m := binary.BigEndian.Uint32(s.buf[off:])
			n := int(m & 0x7fffffff)
			if len(s.buf)-off-4 < n {
				return recs
			}
			rec = append(rec, s.buf[off+4:off+4+n]...)
			off += 4 + n
			last = m>>31 == 1
		}
		recs = append(recs, wireRecord{at: time.Now(), data: rec})
		s.buf = s.buf[off:]
	}
}

// testBigFile writes 64 MiB in 1 MiB UNSTABLE WRITEs, several in flight,
// COMMITs with verifier checks, reads it back and compares it with the
// source and with the backing file.
func testBigFile(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.c
	const size, chunk = 64 << 20, 1 << 20
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i*31 + i>>12)
	}
	o, err := c.Open(ctx, root, nfsclient.OpenArgs{Dir: e.root, Name: "big", Access: nfsclient.ShareBoth, Create: nfsclient.Unchecked})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseState(ctx, root, o.FH, o.Stateid)
	verfs := make([][8]byte, size/chunk)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := 0; i < size/chunk; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			w, err := c.Write(ctx, root, o.FH, o.Stateid, uint64(i*chunk), src[i*chunk:(i+1)*chunk], nfsclient.Unstable)
			if err != nil || w.Count != chunk {
				t.Errorf("WRITE %d: %+v, %v", i, w, err)
			}
			verfs[i] = w.Verifier
		}(i)
	}
	wg.Wait()
	verf, err := c.Commit(ctx, root, o.FH, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range verfs {
		if v != verf {
			t.Fatalf("write %d verifier %x != commit verifier %x", i, v, verf)
		}
	}
	got := make([]byte, size)
	for i := 0; i < size/chunk; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			n, _, err := c.Read(ctx, root, o.FH, o.Stateid, uint64(i*chunk), got[i*chunk:(i+1)*chunk])
			if err != nil || n != chunk {
				t.Errorf("READ %d: %d, %v", i, n, err)
			}
		}(i)
	}
	wg.Wait()
	if sha256.Sum256(got) != sha256.Sum256(src) {
		t.Fatal("file read back differs from what was written")
	}
	backing, err := os.ReadFile(filepath.Join(e.export, "big"))
	if err != nil || sha256.Sum256(backing) != sha256.Sum256(src) {
		t.Fatalf("backing file differs from what was written (%d bytes, %v)", len(backing), err)
	}
}

func testBigDir(t *testing.T, e *env) {
	ctx := context.Background()
	const n = 10000
	dir := filepath.Join(e.export, "many")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("entry-%05d-with-a-longish-name", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fh, _, err := e.c.Lookup(ctx, root, e.root, "many")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var cookie uint64
	var verf [8]byte
	pages := 0
	for {
		page, err := e.c.ReadDir(ctx, root, fh, cookie, verf)
		if err != nil {
			t.Fatalf("READDIR page %d: %v", pages, err)
		}
		pages++
		for _, d := range page.Entries {
			if seen[d.Name] {
				t.Fatalf("duplicate entry %q", d.Name)
			}
			seen[d.Name] = true
		}
		if page.EOF {
			break
		}
		cookie, verf = page.Entries[len(page.Entries)-1].Cookie, page.Verifier
	}
	if len(seen) != n || pages < 2 {
		t.Fatalf("listed %d entries in %d pages, want %d in several", len(seen), pages, n)
	}
}
