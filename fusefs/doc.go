// Package fusefs serves an EFS file system (NFSv4.1, spoken by nfsclient)
// to the kernel through FUSE, on go-fuse v2's fs API.
//
// # Model
//
// Every node is one NFS object, known by its file handle; its inode number
// is the NFS fileid, so hard links share one node. Operations map one to
// one onto Session methods (the part of *nfsclient.Client used here,
// declared by this package so tests and decorators can stand in), and
// every request runs as the credentials of the process that made it:
// uid, gid and up to 16 supplementary groups read from
// /proc/<pid>/status at each request (never cached: a process that
// drops groups loses them at once), sent as AUTH_SYS.
// The server decides every permission, and the kernel checks them too
// before it sends anything (default_permissions, from the attributes the
// server reported), standing in for the kernel NFS client's per-user
// ACCESS cache: FUSE asks nothing of a path walk through a cached name or
// of a FIFO open (permissions.go). With an access point the server acts
// as another identity and alone decides. An unprivileged (non-root) mount
// sends everything as the mounting user instead. POSIX locks end at the
// close of any descriptor of the file (FLUSH's lock owner,
// flushowner.go). docs/SEMANTICS.md lists every difference from the
// kernel client, with its test.
//
// Errors: every operation returns a syscall.Errno made by one function,
// toErrno (errno.go), from nfsclient.ErrnoOf. Requests are not abandoned
// when the caller is interrupted (see uninterruptible): an abandoned
// CREATE or WRITE may still have run on the server. Only a blocking lock
// wait is interruptible.
//
// # Opens and writes
//
// Each local uid is one NFS open-owner; all FUSE handles of one user on
// one file share one refcounted NFS OPEN (openstate.go), upgraded with a
// new OPEN when a writer joins readers, CLOSEd when the last handle is
// released. I/O uses the open's stateid with seqid 0 ("current"), so it
// never races with upgrades.
//
// Writes are UNSTABLE; the data of each is kept with the write verifier
// until a COMMIT returns the same verifier, otherwise it is resent with
// FILE_SYNC (writeback.go). close(2) (FLUSH), fsync(2) and release
// COMMIT; a file with more than 64 MiB uncommitted commits early. fsync
// succeeds only when everything written is on stable storage.
//
// # Kernel caching
//
// The kernel client's coherence model, for hosts sharing a file system
// (docs/SEMANTICS.md). Attributes are cached as acregmin ... acdirmax say
// (AttrCache: adaptive, 1s by default), names as long as their
// directory's attributes, missing names only where this mount knows
// every name (knownnames.go), as long too. Close-to-open
// consistency: each open compares the file's change attribute with the
// one seen at the previous open and lets the kernel keep its cached pages
// (FOPEN_KEEP_CACHE) and attributes only when it is unchanged. Our own
// writes change it too, so the first open after writing drops the cache
// once. Locks are coherence points (coherence.go): WRITEs are drained
// before an unlock, and a granted lock drops the kernel's pages and our
// read-ahead. A node is the pair (fileid, file handle) (identity.go), so a
// name another host replaced leads to a new node. O_DIRECT opens bypass
// the page cache. Read-ahead is ours as well as the kernel's: each handle
// that reads sequentially keeps a window of 2 to 8 MiB of READs in flight
// ahead of it, 64 MiB per mount (readahead.go).
//
// # Semantics that differ from a local filesystem
//
//   - Extended attributes: ENOTSUP (NFSv4.2 only).
//   - fallocate, O_TMPFILE: not supported (EOPNOTSUPP).
//   - Block and character devices: mknod gives EPERM (EFS has none).
//   - rename: RENAME_EXCHANGE and RENAME_WHITEOUT give EINVAL;
//     RENAME_NOREPLACE is a LOOKUP then RENAME, not atomic against other
//     clients.
//   - Locks: fcntl and flock locks are NFS byte-range locks; a blocking
//     lock polls the server (EFS has no callbacks) with backoff from 10ms
//     to 1s. F_GETLK reports pid 0 for the holder.
//   - An open file whose handle the server drops after it was removed
//     keeps answering fstat with its last attributes and no links; an
//     open(2) or readlink(2) that races with a removal gets ENOENT.
//
// # Lock ordering
//
// node.mu before openState.mu before lockState.mu; writeback.commitMu
// before writeback.mu. node.mu, filesystem.mu and writeback.mu are never
// held across an RPC; openState.mu, lockState.mu and writeback.commitMu
// are, because they order the state transitions they guard (OPEN/CLOSE,
// LOCK/LOCKU, COMMIT and resend). No kernel notification is sent while
// any of them is held (node.invalidate: after an open or a granted lock).
//
// # Known deadlocks
//
// go-fuse's list applies (see the fs package doc). In tests, which
// access the mount from the serving process: never start a subprocess
// with its working directory in the mount (its chdir is served by us),
// and never pass it descriptors of files in the mount.
//
// # Goroutines
//
// go-fuse owns the serving goroutines and Server.Unmount waits for them.
// Ours, each with its owner and its end:
//
//   - read-ahead READs (readahead.go): owned by their handle, cancelled
//     and waited for when it is released;
//   - write-behind WRITEs (writeback.go): owned by their file's writeback,
//     waited for by the next flush, fsync or release;
//   - repairs of files a recovery could not reach (reclaim.go): counted in
//     filesystem.repairs, waited for by Unmount and Close;
//   - the memory trimmer (memory.go): one per mount, stopped by Unmount
//     and Close.
//
// Unmount order: COMMIT every open file, unmount the kernel mount, then
// CLOSE the NFS opens left. The caller closes the Session afterwards.
package fusefs
