package fusefs

import (
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Permission checks. The kernel NFS client checks every open, path walk
// and truncate of each user with NFS ACCESS, through a per-user access
// cache. A FUSE filesystem is asked nothing of the kind: without the
// default_permissions mount option the kernel checks no permission on
// its own, and sends none of these for the filesystem to decide (a FIFO
// open or a path walk through a cached name never reaches it). On a
// shared mount that let one user through a name another user looked up a
// moment ago, open an exec-only file for reading, and open a FIFO whatever
// its mode. So mounts check permissions in the kernel
// (default_permissions), from the mode, owner and group the server
// reports, cached as the kernel client caches ACCESS (the attribute
// timeout); every request still runs as its caller and the server checks
// it again.
//
// The exception is a server that maps identities (an EFS access point
// enforces a POSIX user for every caller): the file's owner then says
// nothing about what the caller may do, and only the server can judge.
// Options.ServerMapsIdentity leaves every check to the server, as before.

// setuidBits are the bits the kernel asks to clear when a process without
// CAP_FSETID writes, truncates or chowns a file.
const setuidBits = 0o6000

// dropKillPriv removes from s a mode change that only clears the setuid
// or setgid bits of a file the caller does not own. That is the kernel
// clearing them before a write (FUSE sends it as a chmod by the writer,
// which the server refuses with EPERM, failing the write); the kernel
// client sends no such request, and the server clears the bits on WRITE
// itself. Only with kernel permission checks: then a real chmod by a
// non-owner never gets here (the kernel refuses it with EPERM).
func dropKillPriv(s nfsclient.SetAttr, cur nfsclient.Attr, caller rpc.Cred) nfsclient.SetAttr {
	if s.Mode == nil || caller.UID == 0 || caller.UID == cur.UID || cur.Mode&setuidBits == 0 {
		return s
	}
	if *s.Mode&^setuidBits != cur.Mode&^setuidBits || *s.Mode&setuidBits == cur.Mode&setuidBits {
		return s // changes more than the setuid bits, or none of them
	}
	s.Mode = nil
	return s
}
