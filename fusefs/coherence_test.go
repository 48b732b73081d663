package fusefs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/fusefs"
)

// Two mounts of one target, each with a client of its own, stand for two
// hosts sharing a file system. They must keep the kernel NFS client's
// coherence model (nfs(5), "Data and metadata coherence"): close-to-open,
// locks as coherence points, names replaced by the other host looked up
// again.

// longCache makes the kernel cache attributes and names for a minute, so
// that only the coherence points under test (open, lock) can refresh
// them, never a timeout.
func longCache(o *fusefs.Options) {
	long := time.Minute
	o.AttrTimeout = &long
}

func fill(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

// preadAt reads len(want) bytes at off from f and compares.
func preadAt(t *testing.T, f *os.File, off int64, want []byte) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, off); err != nil {
		t.Fatalf("read at %d: %v", off, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read at %d: got %q..., want %q... (stale cached data)", off, got[:8], want[:8])
	}
}

// TestLockDropsCachedData: a descriptor that read a file keeps its pages
// cached; another host writes the file under a lock; taking a lock (POSIX
// or flock) must drop what was cached, in the kernel's page cache and in
// our read-ahead, so the descriptor reads the new bytes at once. The
// writer's descriptor stays open: its unlock, not its close, must have
// sent the data.
func TestLockDropsCachedData(t *testing.T) {
	for _, kind := range []string{"posix", "flock"} {
		t.Run(kind, func(t *testing.T) {
			a, b := mountTwo(t, longCache)
			checkLockCoherence(t, kind, a.mnt, b.mnt)
		})
	}
}

// checkLockCoherence: a reader through mount b caches a file; a writer
// through mount a rewrites it under a lock of the given kind, its
// descriptor kept open; the reader's next lock must show the new bytes.
func checkLockCoherence(t *testing.T, kind, a, b string) {
	const size = 4 << 20
	name := "db-" + kind
	if err := os.WriteFile(filepath.Join(a, name), fill('A', size), 0o644); err != nil {
		t.Fatal(err)
	}
	reader, err := os.OpenFile(filepath.Join(b, name), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	// The first MiB into the page cache, and read-ahead past it.
	preadAt(t, reader, 0, fill('A', 1<<20))

	writer, err := os.OpenFile(filepath.Join(a, name), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	lock(t, kind, writer, syscall.F_WRLCK)
	if _, err := writer.WriteAt(fill('B', size), 0); err != nil {
		t.Fatal(err)
	}
	lock(t, kind, writer, syscall.F_UNLCK)

	lock(t, kind, reader, syscall.F_RDLCK)
	preadAt(t, reader, 0, fill('B', 4096))      // was in the page cache
	preadAt(t, reader, 3<<20, fill('B', 1<<20)) // was read ahead
	preadAt(t, reader, 1<<20, fill('B', 2<<20)) // the rest
	lock(t, kind, reader, syscall.F_UNLCK)
}

// lock takes (blocking) or releases a whole-file lock of the given kind.
func lock(t *testing.T, kind string, f *os.File, typ int16) {
	t.Helper()
	var err error
	if kind == "flock" {
		how := map[int16]int{syscall.F_RDLCK: syscall.LOCK_SH, syscall.F_WRLCK: syscall.LOCK_EX, syscall.F_UNLCK: syscall.LOCK_UN}[typ]
		err = syscall.Flock(int(f.Fd()), how)
	} else {
		err = syscall.FcntlFlock(f.Fd(), syscall.F_SETLKW, &syscall.Flock_t{Type: typ, Whence: 0})
	}
	if err != nil {
		t.Fatalf("%s lock %d: %v", kind, typ, err)
	}
}

// TestCloseToOpenTwoMounts: what one host wrote and closed, the other's
// next open reads, size and bytes, however long its caches would last.
func TestCloseToOpenTwoMounts(t *testing.T) {
	a, b := mountTwo(t, longCache)
	checkCloseToOpen(t, a.mnt, b.mnt)
}

// checkCloseToOpen: what is written and closed through a, the next open
// through b reads whole, with its size.
func checkCloseToOpen(t *testing.T, a, b string) {
	pa, pb := filepath.Join(a, "cto"), filepath.Join(b, "cto")
	for i, content := range []string{"version one", "version two", "version three, longer"} {
		if err := os.WriteFile(pa, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(pb)
		if err != nil {
			t.Fatalf("round %d: open: %v", i, err)
		}
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, 64)
		n, _ := f.Read(got)
		f.Close()
		if string(got[:n]) != content || st.Size() != int64(len(content)) {
			t.Fatalf("round %d: read %q (size %d), want %q (size %d)", i, got[:n], st.Size(), content, len(content))
		}
	}
}

// TestReplacedNamesTwoMounts: one host removes and recreates a file and a
// directory under the same names 40 times (ext4 under the local target
// reuses their inode numbers, so the new objects often have the old
// fileid with a new file handle); the other keeps using the names and
// must always reach the new object, never a lasting ESTALE.
func TestReplacedNamesTwoMounts(t *testing.T) {
	a, b := mountTwo(t)
	checkReplacedNames(t, a.mnt, b.mnt)
}

// checkReplacedNames replaces a file and a directory through a, 40 times,
// and uses their names through b each time.
func checkReplacedNames(t *testing.T, a, b string) {
	fa, fb := filepath.Join(a, "f"), filepath.Join(b, "f")
	da, db := filepath.Join(a, "d"), filepath.Join(b, "d")
	seen := map[uint64]int{}
	for i := range 40 {
		want := fmt.Sprintf("round %d", i)
		_ = os.Remove(fa)
		if err := os.WriteFile(fa, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.RemoveAll(da)
		if err := os.Mkdir(da, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(da, "x"), []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}

		st, err := os.Stat(fb)
		if err != nil {
			t.Fatalf("round %d: stat f: %v", i, err)
		}
		seen[st.Sys().(*syscall.Stat_t).Ino]++
		for _, p := range []string{fb, filepath.Join(db, "x")} {
			got, err := os.ReadFile(p)
			if errors.Is(err, syscall.ESTALE) || err != nil || string(got) != want {
				t.Fatalf("round %d: read %s: %q, %v; want %q", i, p, got, err, want)
			}
		}
		ents, err := os.ReadDir(db)
		if err != nil || len(ents) != 1 || ents[0].Name() != "x" {
			t.Fatalf("round %d: list d: %v, %v", i, ents, err)
		}
		// A new name in the replaced directory, through the other host.
		if err := os.WriteFile(filepath.Join(db, "y"), []byte(want), 0o644); err != nil {
			t.Fatalf("round %d: create in d: %v", i, err)
		}
	}
	reused := 0
	for _, n := range seen {
		reused += n - 1
	}
	t.Logf("the file's inode number was reused %d times in 40 rounds", reused)
}

// TestNamesOfOtherHostWithinAcdirmax: names another host adds and removes
// show within acdirmax, listings at once.
func TestNamesOfOtherHostWithinAcdirmax(t *testing.T) {
	const acdirmax = 300 * time.Millisecond
	a, b := mountTwo(t, func(o *fusefs.Options) {
		o.AttrCache = &fusefs.AttrCache{RegMin: time.Minute, RegMax: time.Minute, DirMin: 100 * time.Millisecond, DirMax: acdirmax}
	})
	for i := range 5 {
		name := fmt.Sprintf("n%d", i)
		if _, err := os.Stat(filepath.Join(b.mnt, name)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat %s before: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(a.mnt, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(b.mnt)
		if err != nil || len(ents) != i+1 {
			t.Fatalf("listing after %s was created elsewhere: %d entries, %v", name, len(ents), err)
		}
		time.Sleep(acdirmax)
		if _, err := os.Stat(filepath.Join(b.mnt, name)); err != nil {
			t.Fatalf("stat %s after acdirmax: %v", name, err)
		}
	}
	if err := os.Remove(filepath.Join(a.mnt, "n0")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(acdirmax)
	if _, err := os.Stat(filepath.Join(b.mnt, "n0")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stat of a name removed elsewhere, after acdirmax: %v", err)
	}
}
