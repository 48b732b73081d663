package fusefs_test

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// unsupported lists the go-fuse conformance tests that NFSv4.1 on EFS
// cannot pass, with the reason; they are not run. Every other test must
// pass: fix the filesystem, not the test.
var unsupported = map[string]string{
	"XAttr":             "xattrs are NFSv4.2 (RFC 8276); EFS speaks 4.0/4.1, so every xattr call is ENOTSUP",
	"XAttrLarge":        "xattrs are NFSv4.2 (RFC 8276); EFS speaks 4.0/4.1, so every xattr call is ENOTSUP",
	"Fallocate":         "ALLOCATE is NFSv4.2; EFS has no fallocate",
	"FallocateKeepSize": "ALLOCATE is NFSv4.2; EFS has no fallocate",
	// The test wants two descriptors of one process to conflict with
	// F_SETLK. POSIX record locks belong to the process (the kernel
	// sends one lock owner for both), so the second lock replaces the
	// first, as on the kernel NFS client and on local filesystems; the
	// test passes on go-fuse's loopback only because that maps locks to
	// per-descriptor OFD locks. OFD conflicts are tested in TestOperations.
	"FcntlFlockLocksFile": "POSIX locks are per process: two fds of one process do not conflict",
	// fusefs sends SETATTR with the times for the symlink; the local
	// target's ganesha FSAL_VFS ignores times on symlinks and replies
	// with the old ones. Not decidable here for EFS itself.
	"SetattrSymlink": "the local target (ganesha FSAL_VFS) ignores SETATTR of times on symlinks",
}

// skipsItself lists the tests that posixtest skips on its own when the
// filesystem lacks a feature. They run (so a fix shows up as a pass), and
// skipping is accepted for them only: a skip of any other test fails.
var skipsItself = map[string]string{
	// NFSv4.1 has no way to create a file without a name (OPEN always
	// names one), so fusefs has no Tmpfile and the kernel answers
	// O_TMPFILE with EOPNOTSUPP, as the kernel NFS client does. A hidden
	// name removed at once is no substitute: the test (and linkat of an
	// O_TMPFILE) needs nlink 0 and an empty directory.
	"Tmpfile": "NFSv4.1 cannot create an unnamed file: O_TMPFILE is EOPNOTSUPP, as on the kernel NFS client",
}

func TestPosix(t *testing.T) {
	e := mount(t)
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if why, ok := unsupported[name]; ok {
				t.Skip(why)
			}
			// Runs after posixtest's own t.Skip too (Skip ends the test
			// with runtime.Goexit, which runs deferred calls).
			defer func() {
				if why, ok := skipsItself[name]; t.Skipped() && ok {
					t.Log("expected:", why)
				} else if t.Skipped() {
					t.Error("skipped, but not listed in unsupported or skipsItself: list it with the reason, or fix the filesystem")
				}
			}()
			dir := filepath.Join(e.mnt, name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			posixtest.All[name](t, dir)
		})
	}
}
