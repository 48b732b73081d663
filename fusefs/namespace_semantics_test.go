package fusefs_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKernelClientNamespace checks names, links, times and ownership
// rules through the mount against what the kernel NFS client (and a local
// file system) answer: hard links, rename over files and directories,
// sticky directories, symlinks, utimensat with UTIME_NOW and UTIME_OMIT,
// ctime changes, and chown/chmod by non-root users.
func TestKernelClientNamespace(t *testing.T) {
	e := mount(t)
	kernelClientNamespace(t, e.mnt, false)
}

// kernelClientNamespace checks the namespace rules through the directory
// mnt, on an efs-fuse or (kernel) a kernel client mount.
func kernelClientNamespace(t *testing.T, mnt string, kernel bool) {
	m := func(p string) string { return filepath.Join(mnt, p) }
	write := func(t *testing.T, p, data string, mode uint32) {
		t.Helper()
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	stat := func(t *testing.T, p string) unix.Stat_t {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	says := func(t *testing.T, want string, op ...string) {
		t.Helper()
		if got := helperSays(t, true, op...); !slices.Equal(got, []string{want}) {
			t.Fatalf("%v as uid 1000: %v, want %s", op, got, want)
		}
	}
	// ctimeStep waits long enough for a ctime to move past the server's
	// clock granularity.
	ctimeStep := func() { time.Sleep(20 * time.Millisecond) }

	t.Run("HardLinks", func(t *testing.T) {
		write(t, m("orig"), "linked", 0o644)
		before := stat(t, m("orig"))
		ctimeStep()
		if err := os.Link(m("orig"), m("alias")); err != nil {
			t.Fatal(err)
		}
		a, b := stat(t, m("orig")), stat(t, m("alias"))
		if a.Ino != b.Ino || a.Nlink != 2 || b.Nlink != 2 {
			t.Fatalf("after link: ino %d/%d nlink %d/%d, want one inode with 2 links", a.Ino, b.Ino, a.Nlink, b.Nlink)
		}
		if a.Ctim == before.Ctim {
			t.Errorf("link left the ctime at %v", before.Ctim)
		}
		if err := os.Remove(m("orig")); err != nil {
			t.Fatal(err)
		}
		if st := stat(t, m("alias")); st.Nlink != 1 {
			t.Fatalf("nlink after removing the other name: %d", st.Nlink)
		}
		if err := os.Mkdir(m("linkdir"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(m("linkdir"), m("linkdir2")); !errors.Is(err, unix.EPERM) {
			t.Fatalf("link of a directory: %v, want EPERM", err)
		}
	})

	t.Run("RenameOver", func(t *testing.T) {
		write(t, m("r-src"), "src", 0o644)
		write(t, m("r-dst"), "dst", 0o644)
		if err := os.Rename(m("r-src"), m("r-dst")); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(m("r-dst")); err != nil || string(b) != "src" {
			t.Fatalf("target after rename over it: %q %v", b, err)
		}
		if _, err := os.Lstat(m("r-src")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("source after rename: %v", err)
		}
		for _, d := range []string{"rd-src", "rd-empty", "rd-full"} {
			if err := os.Mkdir(m(d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		write(t, m("rd-full/f"), "f", 0o644)
		write(t, m("r-file"), "f", 0o644)
		for _, c := range []struct {
			from, to string
			want     error
		}{
			{"r-file", "rd-empty", unix.EISDIR},
			{"rd-src", "r-file", unix.ENOTDIR},
			{"rd-src", "rd-full", unix.ENOTEMPTY},
			{"rd-src", "rd-src/sub", unix.EINVAL},
			{"rd-src", "rd-empty", nil},
		} {
			// rename(2) itself: os.Rename refuses a directory target.
			err := unix.Rename(m(c.from), m(c.to))
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("rename %s over %s: %v, want %v", c.from, c.to, err, c.want)
			}
		}
		if fi, err := os.Stat(m("rd-empty")); err != nil || !fi.IsDir() {
			t.Fatalf("directory renamed over an empty one: %v %v", fi, err)
		}
	})

	t.Run("StickyDirectory", func(t *testing.T) {
		skipWhereKernelDiffers(t, kernel)
		if err := os.Mkdir(m("tmp"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(m("tmp"), 0o1777); err != nil {
			t.Fatal(err)
		}
		write(t, m("tmp/roots"), "r", 0o666)
		says(t, "EPERM", "unlink", m("tmp/roots"))
		says(t, "EPERM", "rename", m("tmp/roots"), m("tmp/stolen"))
		write(t, m("tmp/users"), "u", 0o644)
		if err := os.Chown(m("tmp/users"), 1000, 1000); err != nil {
			t.Fatal(err)
		}
		says(t, "ok", "rename", m("tmp/users"), m("tmp/users2"))
		says(t, "ok", "unlink", m("tmp/users2"))
		if _, err := os.Stat(m("tmp/roots")); err != nil {
			t.Fatalf("root's file in the sticky directory: %v", err)
		}
	})

	t.Run("Symlinks", func(t *testing.T) {
		write(t, m("target"), "t", 0o644)
		if err := os.Symlink("target", m("link")); err != nil {
			t.Fatal(err)
		}
		if got, err := os.Readlink(m("link")); err != nil || got != "target" {
			t.Fatalf("readlink: %q %v", got, err)
		}
		if st := stat(t, m("link")); st.Mode&unix.S_IFMT != unix.S_IFLNK || st.Size != int64(len("target")) {
			t.Fatalf("lstat of the link: mode %o size %d", st.Mode, st.Size)
		}
		if b, err := os.ReadFile(m("link")); err != nil || string(b) != "t" {
			t.Fatalf("read through the link: %q %v", b, err)
		}
		if _, err := unix.Open(m("link"), unix.O_RDONLY|unix.O_NOFOLLOW, 0); !errors.Is(err, unix.ELOOP) {
			t.Fatalf("open(O_NOFOLLOW) of a symlink: %v, want ELOOP", err)
		}
		if err := os.Symlink("nowhere", m("dangling")); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(m("dangling")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat through a dangling link: %v, want ENOENT", err)
		}
	})

	t.Run("UtimensNowAndOmit", func(t *testing.T) {
		skipWhereKernelDiffers(t, kernel)
		write(t, m("times"), "t", 0o666)
		set := []unix.Timespec{{Sec: 1_000_000_000}, {Sec: 1_100_000_000}}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, m("times"), set, 0); err != nil {
			t.Fatal(err)
		}
		omit := []unix.Timespec{{Sec: 1_200_000_000}, {Nsec: unix.UTIME_OMIT}}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, m("times"), omit, 0); err != nil {
			t.Fatal(err)
		}
		if st := stat(t, m("times")); st.Atim.Sec != 1_200_000_000 || st.Mtim.Sec != 1_100_000_000 {
			t.Fatalf("after UTIME_OMIT of mtime: atime %d mtime %d, want 1200000000 1100000000", st.Atim.Sec, st.Mtim.Sec)
		}
		// Anyone who may write sets both to now; only the owner sets
		// other times.
		says(t, "ok", "utimens", m("times"), "now")
		if st := stat(t, m("times")); time.Since(time.Unix(st.Mtim.Unix())) > time.Minute {
			t.Fatalf("mtime after UTIME_NOW: %v", time.Unix(st.Mtim.Unix()))
		}
		says(t, "EPERM", "utimens", m("times"), "1000000000")
		write(t, m("times-ro"), "t", 0o644)
		says(t, "EACCES", "utimens", m("times-ro"), "now")
	})

	t.Run("CtimeChanges", func(t *testing.T) {
		write(t, m("ct"), "c", 0o644)
		for _, c := range []struct {
			what, from, to string // the file's name before and after
			do             func() error
		}{
			{"chmod", "ct", "ct", func() error { return os.Chmod(m("ct"), 0o600) }},
			{"chown", "ct", "ct", func() error { return os.Chown(m("ct"), 1000, 1000) }},
			{"write", "ct", "ct", func() error { return os.WriteFile(m("ct"), []byte("more"), 0) }},
			{"truncate", "ct", "ct", func() error { return os.Truncate(m("ct"), 1) }},
			{"utimes", "ct", "ct", func() error { return os.Chtimes(m("ct"), time.Unix(1, 0), time.Unix(1, 0)) }},
			{"link", "ct", "ct", func() error { return os.Link(m("ct"), m("ct-link")) }},
			{"unlink of a link", "ct", "ct", func() error { return os.Remove(m("ct-link")) }},
			{"rename", "ct", "ct2", func() error { return os.Rename(m("ct"), m("ct2")) }},
		} {
			before := stat(t, m(c.from))
			ctimeStep()
			if err := c.do(); err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
			if after := stat(t, m(c.to)); after.Ctim == before.Ctim {
				t.Errorf("%s left the ctime at %v", c.what, before.Ctim)
			}
		}
	})

	t.Run("ChownChmodByNonRoot", func(t *testing.T) {
		skipWhereKernelDiffers(t, kernel)
		write(t, m("theirs"), "x", 0o666)
		says(t, "EPERM", "chmod", m("theirs"), "777")
		says(t, "EPERM", "chown", m("theirs"), "1000", "-1")
		write(t, m("own"), "x", 0o644)
		if err := os.Chown(m("own"), 1000, 1000); err != nil {
			t.Fatal(err)
		}
		says(t, "ok", "chmod", m("own"), "600")
		says(t, "EPERM", "chown", m("own"), "0", "-1")
		says(t, "EPERM", "chown", m("own"), "-1", "0") // not in group 0
		says(t, "ok", "chown", m("own"), "-1", "1000")
		if st := stat(t, m("own")); st.Mode&0o7777 != 0o600 || st.Uid != 1000 || st.Gid != 1000 {
			t.Fatalf("after the owner's chmod: mode %o owner %d:%d", st.Mode&0o7777, st.Uid, st.Gid)
		}
	})
}
