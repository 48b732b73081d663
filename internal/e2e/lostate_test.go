package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
	"github.com/efs-fuse/efs-fuse/internal/testtarget"
)

// TestUnrecoverableStateEIO: after a server restart, an open file whose
// state cannot be reclaimed fails with EIO on its handle, and the log
// names it, while another file open across the same restart carries on.
//
// The first file is removed in the export behind the client's back (as
// another client could), so its CLAIM_PREVIOUS reclaim finds no file
// (NFS4ERR_STALE). The mount is the efs-fuse binary's own process, so
// this test may hold files of it open while the restart starts ganesha.
func TestUnrecoverableStateEIO(t *testing.T) {
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export }, testtarget.WithGraceSeconds(10))
	m := startBinMount(t, tgt)
	files := openWithData(t, m.mnt, "lost", "kept")
	lost, kept := files[0], files[1]
	if err := os.Remove(filepath.Join(export, "lost")); err != nil {
		t.Fatal(err)
	}
	if err := tgt.RestartGanesha(context.Background(), localtarget.RestartOptions{Grace: true, Kill: true}); err != nil {
		t.Fatalf("restart ganesha: %v", err)
	}
	// Recovery runs as soon as the client reconnects; its log line
	// says when it is done with the lost file.
	var line string
	for deadline := time.Now().Add(time.Minute); line == ""; time.Sleep(100 * time.Millisecond) {
		for _, l := range strings.Split(m.log(t), "\n") {
			if strings.Contains(l, "could not recover an open file") {
				line = l
			}
		}
		if line == "" && time.Now().After(deadline) {
			t.Fatalf("no recovery failure logged a minute after the restart:\n%s", m.log(t))
		}
	}
	t.Logf("log: %s", line)
	if !strings.Contains(line, `"/lost"`) || strings.Contains(line, "kept") {
		t.Errorf("the recovery failure does not name the file /lost alone: %s", line)
	}

	if _, err := lost.WriteAt([]byte("after"), 7); !errors.Is(err, syscall.EIO) {
		t.Errorf("write through the handle whose state was lost: %v, want EIO", err)
	}
	if err := lost.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("fsync of the handle whose state was lost: %v, want EIO", err)
	}
	if _, err := kept.WriteAt([]byte("after"), 7); err != nil {
		t.Fatalf("write through the other handle after the restart: %v", err)
	}
	if err := kept.Sync(); err != nil {
		t.Fatalf("fsync of the other handle after the restart: %v", err)
	}
	if err := kept.Close(); err != nil {
		t.Fatalf("close of the other handle: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(export, "kept")); err != nil || string(b) != "before;after" {
		t.Fatalf("the other file on the server: %q, %v; want %q", b, err, "before;after")
	}
	// A new file works too: the mount as a whole recovered.
	if err := os.WriteFile(filepath.Join(m.mnt, "new"), []byte("new"), 0o644); err != nil {
		t.Fatalf("new file after the restart: %v", err)
	}
}

// TestGracelessRestartLosesLocks: a server that comes back without a grace
// period (here a graceless ganesha; on EFS, a grace period that ended
// before we got back, or a lease that expired) cannot tell us whether
// someone else held our lock meanwhile. The locked file's handles fail
// with EIO rather than take the lock again behind the application's back,
// as the Linux client does by default; an open file without locks is
// simply re-opened and carries on.
func TestGracelessRestartLosesLocks(t *testing.T) {
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export })
	m := startBinMount(t, tgt)
	files := openWithData(t, m.mnt, "locked", "unlocked")
	locked, unlocked := files[0], files[1]
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 100}
	if err := syscall.FcntlFlock(locked.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatalf("lock: %v", err)
	}
	if err := tgt.RestartGanesha(context.Background(), localtarget.RestartOptions{Kill: true}); err != nil {
		t.Fatalf("restart ganesha: %v", err)
	}
	// Recovery logs what became of /locked: lost, or (wrongly) recovered.
	var line string
	for deadline := time.Now().Add(time.Minute); line == ""; time.Sleep(100 * time.Millisecond) {
		for _, l := range strings.Split(m.log(t), "\n") {
			if strings.Contains(l, `"/locked"`) && (strings.Contains(l, "lock lost") || strings.Contains(l, "recovered")) {
				line = l
			}
		}
		if line == "" && time.Now().After(deadline) {
			t.Fatalf("recovery logged nothing about /locked a minute after the restart:\n%s", m.log(t))
		}
	}
	t.Logf("log: %s", line)
	if !strings.Contains(line, "lock lost") {
		t.Errorf("the lock was taken again without a grace period: %s", line)
	}
	if _, err := locked.WriteAt([]byte("after"), 7); !errors.Is(err, syscall.EIO) {
		t.Errorf("write under the lost lock: %v, want EIO", err)
	}
	if err := syscall.FcntlFlock(locked.Fd(), syscall.F_SETLK, &lk); !errors.Is(err, syscall.EIO) {
		t.Errorf("lock again through the handle that lost its lock: %v, want EIO", err)
	}
	unlk := syscall.Flock_t{Type: syscall.F_UNLCK, Len: 100}
	if err := syscall.FcntlFlock(locked.Fd(), syscall.F_SETLK, &unlk); err != nil {
		t.Errorf("unlock through the handle that lost its lock: %v, want success", err)
	}
	if _, err := unlocked.WriteAt([]byte("after"), 7); err != nil {
		t.Fatalf("write to the file without locks after the restart: %v", err)
	}
	if err := unlocked.Close(); err != nil {
		t.Fatalf("close of the file without locks: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(export, "unlocked")); err != nil || string(b) != "before;after" {
		t.Fatalf("the file without locks on the server: %q, %v; want %q", b, err, "before;after")
	}
	// A new open of the file starts afresh, even while the lost handle
	// is still open: it locks and writes, and the lost handle still fails.
	again, err := os.OpenFile(filepath.Join(m.mnt, "locked"), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("reopen the file that lost its lock: %v", err)
	}
	defer again.Close()
	if err := syscall.FcntlFlock(again.Fd(), syscall.F_SETLK, &lk); err != nil {
		t.Fatalf("lock through a new open while the lost handle is open: %v", err)
	}
	if _, err := again.WriteAt([]byte("again"), 7); err != nil {
		t.Fatalf("write through the new open: %v", err)
	}
	if err := again.Sync(); err != nil {
		t.Fatalf("fsync through the new open: %v", err)
	}
	if _, err := locked.WriteAt([]byte("after"), 7); !errors.Is(err, syscall.EIO) {
		t.Errorf("write through the lost handle after a new open: %v, want EIO", err)
	}
	if err := locked.Close(); err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatalf("close of the handle that lost its lock: %v", err)
	}
	// Closing the lost handle sends nothing that could end the new open.
	time.Sleep(200 * time.Millisecond)
	if _, err := again.WriteAt([]byte("later"), 12); err != nil {
		t.Fatalf("write through the new open after the lost handle closed: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatalf("close of the new open: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(export, "locked")); err != nil || string(b) != "before;againlater" {
		t.Fatalf("the relocked file on the server: %q, %v; want %q", b, err, "before;againlater")
	}
}

// openWithData creates and opens each name in dir, writes "before;" to it
// and fsyncs it (committed: nothing for a restart's fork/exec to flush).
// The files are closed in t.Cleanup.
func openWithData(t *testing.T, dir string, names ...string) []*os.File {
	t.Helper()
	var files []*os.File
	for _, name := range names {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		if _, err := f.WriteString("before;"); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// TestRestartWithOpenInFlight: a request that holds a file's open state
// (here the OPEN that adds read access to a file open for writing) is sent
// while the server is unreachable, and the server restarts meanwhile. The
// recovery must not wait for that request, which waits for the recovery:
// it used to, and the mount hung for good. Now the recovery goes on, the
// OPEN is answered by the new server, and both descriptors work. If the
// file held a lock, that lock could not be reclaimed with the rest (the
// state was busy): the file is lost, as after a restart without grace.
func TestRestartWithOpenInFlight(t *testing.T) {
	t.Run("Unlocked", func(t *testing.T) { testRestartWithOpenInFlight(t, false) })
	t.Run("Locked", func(t *testing.T) { testRestartWithOpenInFlight(t, true) })
}

func testRestartWithOpenInFlight(t *testing.T, locked bool) {
	export := t.TempDir()
	if err := os.Chmod(export, 0o777); err != nil {
		t.Fatal(err)
	}
	tgt := testtarget.Start(t, func(o *localtarget.Options) { o.ExportDir = export }, testtarget.WithGraceSeconds(5))
	m := startBinMount(t, tgt)
	p := filepath.Join(m.mnt, "f")
	w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteString("before;"); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if locked {
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Len: 1}
		if err := syscall.FcntlFlock(w.Fd(), syscall.F_SETLK, &lk); err != nil {
			t.Fatal(err)
		}
	}

	// Fresh attributes of the file and the root directory (the kernel
	// checks permissions from them, default_permissions): the open below
	// must send its OPEN at once, not a GETATTR first.
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	tgt.Blackhole(3 * time.Second)
	type opened struct {
		f   *os.File
		err error
	}
	reader := make(chan opened, 1)
	go func() {
		f, err := os.Open(p) // an OPEN upgrade to read+write, held up by the black hole
		reader <- opened{f, err}
	}()
	time.Sleep(500 * time.Millisecond)
	if err := tgt.RestartGanesha(context.Background(), localtarget.RestartOptions{Grace: true, Kill: true}); err != nil {
		t.Fatalf("restart ganesha: %v", err)
	}
	var r opened
	select {
	case r = <-reader:
	case <-time.After(60 * time.Second):
		t.Fatalf("open(2) sent during the outage still blocked 60 s after the restart: the recovery hung\n%s", m.log(t))
	}
	if r.err != nil {
		t.Fatalf("open(2) sent during the outage: %v", r.err)
	}
	defer r.f.Close()
	if locked {
		// The repair runs once the OPEN is done; it logs what it did.
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(m.log(t), "the server lost our locks while a request on the file was in flight"); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no lost lock logged 30 s after the restart:\n%s", m.log(t))
			}
		}
		if _, err := w.WriteString("after"); !errors.Is(err, syscall.EIO) {
			t.Fatalf("write through the descriptor whose lock was lost: %v, want EIO", err)
		}
		return
	}
	if _, err := w.WriteString("after"); err != nil {
		t.Fatalf("write through the descriptor open before the restart: %v", err)
	}
	if err := w.Sync(); err != nil {
		t.Fatalf("fsync through the descriptor open before the restart: %v", err)
	}
	b := make([]byte, 64)
	n, err := r.f.ReadAt(b, 0)
	if string(b[:n]) != "before;after" {
		t.Fatalf("read through the descriptor opened during the outage: %q, %v", b[:n], err)
	}
}
