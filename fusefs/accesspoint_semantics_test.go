package fusefs_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/efs-fuse/efs-fuse/fusefs"
)

// TestServerMapsIdentityPermissions: on a mount where the server alone
// judges permissions (an access point), opens and truncates are checked
// with ACCESS as the kernel client checks them, a non-owner's write to a
// setuid file succeeds, and the two checks FUSE gives no hook for stay
// undone, as docs/SEMANTICS.md says: a FIFO opens whatever its mode, and
// a name another user looked up is reachable for the entry timeout.
func TestServerMapsIdentityPermissions(t *testing.T) {
	// A long entry timeout: the cached name must outlive the helper's
	// start on a loaded machine.
	entry := time.Minute
	e := mount(t, func(o *fusefs.Options) { o.ServerMapsIdentity, o.EntryTimeout = true, &entry })
	m := func(p string) string { return filepath.Join(e.mnt, p) }
	write := func(t *testing.T, p, data string, mode uint32) {
		t.Helper()
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := unix.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	says := func(t *testing.T, want string, op ...string) {
		t.Helper()
		if got := helperSays(t, true, op...); !slices.Equal(got, []string{want}) {
			t.Fatalf("%v as uid 1000: %v, want %s", op, got, want)
		}
	}

	t.Run("ExecOnlyFileNotReadable", func(t *testing.T) {
		write(t, m("exec-only"), "#!/bin/sh\n", 0o711)
		says(t, "EACCES", "open", m("exec-only"), "0")
	})
	t.Run("OwnerCannotTruncateOwn0444", func(t *testing.T) {
		write(t, m("mine-0444"), "0123", 0o444)
		if err := os.Chown(m("mine-0444"), 1000, 1000); err != nil {
			t.Fatal(err)
		}
		says(t, "EACCES", "truncate", m("mine-0444"), "0")
	})
	t.Run("OpenTruncWithoutWritePermission", func(t *testing.T) {
		write(t, m("ro-trunc"), "keep me", 0o644)
		says(t, "EACCES", "open", m("ro-trunc"), "1000")
	})
	t.Run("NonOwnerWritesSetuidFile", func(t *testing.T) {
		write(t, m("suid"), "a", 0o6777)
		says(t, "ok", "append", m("suid"), "b")
	})
	t.Run("DifferenceFifoOpenUnchecked", func(t *testing.T) {
		if err := unix.Mkfifo(m("fifo"), 0o600); err != nil {
			t.Fatal(err)
		}
		says(t, "ok", "open", m("fifo"), "2")
	})
	t.Run("DifferenceCachedNameReachable", func(t *testing.T) {
		if err := os.Mkdir(m("private"), 0o700); err != nil {
			t.Fatal(err)
		}
		write(t, m("private/file"), "x", 0o644)
		if _, err := os.Stat(m("private/file")); err != nil {
			t.Fatal(err)
		}
		says(t, "ok", "stat", m("private/file"))
	})
}
