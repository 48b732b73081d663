package fusefs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// delta is the COMPOUNDs sent by f, by operation.
func (e *env) delta(f func()) map[string]int64 {
	before := e.client.OpCounts()
	f()
	after := e.client.OpCounts()
	out := map[string]int64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

func total(m map[string]int64) (n int64) {
	for _, v := range m {
		n += v
	}
	return n
}

func show(m map[string]int64) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// settle waits (up to 5 s) until the COMPOUNDs of op since before reach
// want: RELEASE, and so CLOSE, is asynchronous.
func (e *env) settle(before map[string]int64, op string, want int64) {
	deadline := time.Now().Add(5 * time.Second)
	for e.client.OpCounts()[op]-before[op] < want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSmallFileRoundTrips pins the COMPOUNDs of the smallfiles benchmark's
// cycle, per file, exactly: fewer is a test to update, more is a
// regression. The anchor is the kernel NFS client's counts for the same
// system calls (scripts/kernel-rpccounts, Linux 6.1 in User-Mode Linux on
// ganesha 4.3), per file: create+write+close OPEN, WRITE, CLOSE and an
// ACCESS (4); stat one LOOKUP; open+read+close OPEN and CLOSE, the data
// coming from its page cache (2); unlink LOOKUP, ACCESS, REMOVE (3). Ours
// are no more, but for open+read+close, whose READ the kernel saves by
// keeping the pages of a file nobody else changed since (fusefs lets the
// kernel drop them at each open).
//
// The create has no LOOKUP: FUSE asks one before every CREATE, but a
// directory this mount made and changed alone answers it from its known
// names (knownnames.go); it cost one round trip in four before.
//
// The kernel checks permissions itself on this root mount
// (default_permissions, as the kernel client checks ACCESS): each create
// or unlink makes the directory's attributes stale, so the next one
// fetches them, a GETATTR where the kernel client sends its ACCESS. A
// phase's first call may find them fresh, or stale from the phase before:
// GETATTR may be one off.
func TestSmallFileRoundTrips(t *testing.T) {
	// Names and attributes kept for 10 s, not 1: a slow run must not
	// turn into LOOKUPs or GETATTRs of what expired (round trips the
	// kernel client also saves, with its attribute cache of 3-60 s).
	long := 10 * time.Second
	e := mount(t, func(o *fusefs.Options) { o.EntryTimeout, o.AttrTimeout = &long, &long })
	data := bytes.Repeat([]byte("x"), 4096)
	const files = 20
	phases := []struct {
		name string
		op   func(p string) error
		want map[string]int64 // per file
	}{
		{"create+write+close", func(p string) error { return os.WriteFile(p, data, 0o644) },
			map[string]int64{"OPEN": 1, "WRITE": 1, "CLOSE": 1, "GETATTR": 1}},
		{"stat", func(p string) error { _, err := os.Stat(p); return err },
			map[string]int64{"GETATTR": 1}},
		{"open+read+close", func(p string) error {
			b, err := os.ReadFile(p)
			if err == nil && !bytes.Equal(b, data) {
				err = fmt.Errorf("read back %d bytes", len(b))
			}
			return err
		}, map[string]int64{"OPEN": 1, "READ": 1, "CLOSE": 1}},
		{"unlink", os.Remove, map[string]int64{"REMOVE": 1, "GETATTR": 1}},
	}
	dir := filepath.Join(e.mnt, "small")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ph := range phases {
		var err error
		d := e.delta(func() {
			before := e.client.OpCounts()
			for i := 0; i < files && err == nil; i++ {
				err = ph.op(filepath.Join(dir, fmt.Sprint("f", i)))
			}
			e.settle(before, "CLOSE", ph.want["CLOSE"]*files)
		})
		if err != nil {
			t.Fatalf("%s: %v", ph.name, err)
		}
		t.Logf("%s: %d files: %s", ph.name, files, show(d))
		want := map[string]int64{}
		for op, n := range ph.want {
			want[op] = n * files
		}
		if g, w := d["GETATTR"], want["GETATTR"]; g != w && g >= w-1 && g <= w+1 {
			d["GETATTR"] = w // the directory's, once, may come or go
			if w == 0 {
				delete(d, "GETATTR")
			}
		}
		if show(d) != show(want) {
			t.Errorf("%s of %d files: %s, want %s (GETATTR one off allowed)", ph.name, files, show(d), show(want))
		}
	}
}

// TestListLongRoundTrips pins what listing costs: `ls -l` of a 1,000-entry
// directory is one LOOKUP of the directory (its name expired), a GETATTR
// of the top directory and one READDIR (its entries' attributes come with it: no GETATTR per entry),
// and a stat of a file just listed costs nothing. The kernel client, with
// fresh caches (scripts/kernel-rpccounts): LOOKUP, GETATTR, two ACCESS and
// three READDIRs (7), and nothing for the stats.
func TestListLongRoundTrips(t *testing.T) {
	e := mount(t)
	dir := filepath.Join(e.mnt, "big")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("f", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // names and attributes expire, and the RELEASEs land
	d := e.delta(func() { run(t, "ls", "-l", dir) })
	t.Logf("ls -l of 1,000 entries: %s", show(d))
	// GETATTR: the mount's top directory, whose attributes expired too,
	// for the kernel's search permission check (default_permissions).
	if want := "GETATTR=1 LOOKUP=1 READDIR=1"; show(d) != want {
		t.Errorf("ls -l of 1,000 entries: %s, want %s", show(d), want)
	}
	d = e.delta(func() {
		names, err := os.ReadDir(dir)
		if err != nil || len(names) != 1000 {
			t.Fatalf("list: %d names, %v", len(names), err)
		}
		for i := range 20 {
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprint("f", i))); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Logf("list, then stat 20 files just listed: %s", show(d))
	if want := "READDIR=1"; show(d) != want {
		t.Errorf("list and stat of 20 files just listed: %s, want %s", show(d), want)
	}
}

// TestKnownNamesStayCoherent: a name another client creates in a directory
// this mount made is found once the entry timeout has passed since this
// mount's last change there, and at once after any change this mount
// cannot account for; a name this mount created is never answered ENOENT.
func TestKnownNamesStayCoherent(t *testing.T) {
	e := mount(t)
	dir := filepath.Join(e.mnt, "made")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ours"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := func(name string) { // a file made by someone else: not through the mount
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dfh, _, err := e.client.LookupPath(ctx, rpc.Root, "/made")
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.client.Open(ctx, rpc.Cred{}, nfsclient.OpenArgs{Dir: dfh, Name: name, Access: nfsclient.ShareWrite, Create: nfsclient.Unchecked})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.client.CloseState(ctx, rpc.Cred{}, res.FH, res.Stateid); err != nil {
			t.Fatal(err)
		}
	}
	other("theirs")
	if _, err := os.Stat(filepath.Join(dir, "ours")); err != nil {
		t.Errorf("stat of a name this mount created: %v", err)
	}
	deadline := time.Now().Add(3 * time.Second) // the entry timeout is 1 s
	for {
		_, err := os.Stat(filepath.Join(dir, "theirs"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("another client's file not seen after 3 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Our next create sees that the directory changed behind our back
	// (change_info before differs): the names are unknown from then on.
	other("theirs2")
	if err := os.WriteFile(filepath.Join(dir, "ours2"), []byte("4"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "theirs2")); err != nil {
		t.Errorf("a name created by another client before our last create was answered from stale names: %v", err)
	}
}

// TestWriteGathering: small sequential writes leave in WRITEs of the
// session's size; what is held is read back by the writer, and reaches the
// server after gatherDelay even without a close.
func TestWriteGathering(t *testing.T) {
	e := mount(t)
	p := filepath.Join(e.mnt, "gathered")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := make([]byte, 4<<20)
	for i := range want {
		want[i] = byte(i / 4096)
	}
	d := e.delta(func() {
		for off := 0; off < len(want); off += 4096 {
			if _, err := f.Write(want[off : off+4096]); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("4 MiB in 4 KiB writes + fsync: %s", show(d))
	if d["WRITE"] > 8 { // 4 if the writer never paused for gatherDelay
		t.Errorf("%d WRITEs for 4 MiB written 4 KiB at a time, want about 4 (1 MiB each)", d["WRITE"])
	}
	if got, _ := os.ReadFile(filepath.Join(e.export, "gathered")); !bytes.Equal(got, want) {
		t.Fatalf("export holds %d bytes, not what was written", len(got))
	}

	// Held, then read through another descriptor before any flush.
	if _, err := f.WriteAt([]byte("tail"), int64(len(want))); err != nil {
		t.Fatal(err)
	}
	g, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	b := make([]byte, 4)
	if _, err := g.ReadAt(b, int64(len(want))); err != nil || string(b) != "tail" {
		t.Fatalf("read of held data = %q, %v", b, err)
	}

	// Held, then left alone: the timer sends it.
	if _, err := f.WriteAt([]byte("late"), int64(len(want))+4); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := os.ReadFile(filepath.Join(e.export, "gathered"))
		if bytes.HasSuffix(got, []byte("taillate")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("held write never reached the server without a close")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSequentialReadFetchesOnce: read-ahead plus the kernel's own async
// read-ahead (whose requests arrive out of order) read each byte of a
// sequentially read file from the server once, and nothing past its end.
func TestSequentialReadFetchesOnce(t *testing.T) {
	e := mount(t)
	const size = 64 << 20
	f, err := os.Create(filepath.Join(e.export, "seq"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var n int64
	d := e.delta(func() {
		g, err := os.Open(filepath.Join(e.mnt, "seq"))
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		buf := make([]byte, 1<<20)
		for {
			k, err := g.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
	})
	if n != size {
		t.Fatalf("read %d bytes of %d", n, size)
	}
	t.Logf("64 MiB read sequentially: %s", show(d))
	if d["READ"] > size>>20+2 {
		t.Errorf("%d READs of 1 MiB for a 64 MiB file: read-ahead fetched data twice or past EOF", d["READ"])
	}
}

// TestSequentialWriteRoundTrips: 1 MiB writes are 1 MiB WRITEs, and fsync
// is one COMMIT.
func TestSequentialWriteRoundTrips(t *testing.T) {
	e := mount(t)
	f, err := os.Create(filepath.Join(e.mnt, "seqw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := bytes.Repeat([]byte("w"), 1<<20)
	d := e.delta(func() {
		for i := 0; i < 64; i++ {
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("64 MiB in 1 MiB writes + fsync: %s", show(d))
	if d["WRITE"] != 64 || d["COMMIT"] != 1 || total(d) != 65 {
		t.Errorf("64 MiB in 1 MiB writes + fsync sent %s, want WRITE=64 COMMIT=1", show(d))
	}
}

// TestListingRoundTrips: an `ls -l` of a directory (readdir, then lstat of
// every name) is answered from READDIR alone: about one READDIR per page
// of the listing, and no LOOKUP or GETATTR per entry, because READDIRPLUS
// entries carry their attributes and handles (dirHandle.Lookup).
func TestListingRoundTrips(t *testing.T) {
	e := mount(t)
	const files = 200
	// Made through the mount: the local target's ganesha caches
	// directories and would not see files written into the export
	// behind its back.
	dir := filepath.Join(e.mnt, "listing")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < files; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%03d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Let the names and attributes the creates left in the kernel
	// expire (entry and attribute timeouts are 1 s), so the listing
	// has to find them anew.
	time.Sleep(1500 * time.Millisecond)

	var listed, statted int
	d := e.delta(func() {
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		listed = len(names)
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
			statted++
		}
	})
	if listed != files || statted != files {
		t.Fatalf("listed %d names and stat'ed %d, want %d", listed, statted, files)
	}
	delete(d, "CLOSE") // RELEASEs of the creates above land late

	// The page count of this listing, asked the same way fusefs asks.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fh, _, err := e.client.LookupPath(ctx, rpc.Root, "/listing")
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	for cookie, verf := uint64(0), [8]byte{}; ; pages++ {
		p, err := e.client.ReadDir(ctx, rpc.Root, fh, cookie, verf)
		if err != nil {
			t.Fatal(err)
		}
		if p.EOF || len(p.Entries) == 0 {
			pages++
			break
		}
		cookie, verf = p.Entries[len(p.Entries)-1].Cookie, p.Verifier
	}
	t.Logf("ls -l of %d files (%d READDIR pages): %s", files, pages, show(d))
	// The directory itself may be looked up and revalidated: a couple
	// of LOOKUPs or GETATTRs, not one per file.
	if d["READDIR"] > int64(pages)+1 {
		t.Errorf("%d READDIRs for a listing of %d pages", d["READDIR"], pages)
	}
	if d["LOOKUP"] > 2 || d["GETATTR"] > 2 {
		t.Errorf("ls -l of %d files sent LOOKUP=%d GETATTR=%d: the entries' READDIR attributes were not used", files, d["LOOKUP"], d["GETATTR"])
	}
	if n := total(d); n > int64(pages)+4 {
		t.Errorf("ls -l of %d files: %d RPCs (%s), want about %d READDIRs and little else", files, n, show(d), pages)
	}
}
