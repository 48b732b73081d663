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
// With Options.ServerMapsIdentity the kernel checks nothing; opens and
// truncates ask ACCESS as the kernel client does (accesscheck.go). A FIFO
// open and a path walk through a cached name stay unchecked there: the
// server answers every caller as the same identity anyway.

// setuidBits are the bits the kernel asks to clear when a process without
// CAP_FSETID writes, truncates or chowns a file.
const setuidBits = 0o6000

// isKillPriv reports whether s is the kernel clearing the setuid or
// setgid bits before a write, truncate or chown by a process without
// CAP_FSETID: a mode change that only clears those bits. FUSE sends it as
// a chmod by the writer, which the server refuses (EPERM) when the writer
// does not own the file, failing the write; the kernel client sends no
// such request, and the server clears the bits on WRITE itself. So it is
// not sent for a non-owner where the kernel checks permissions (a real
// chmod by a non-owner never gets here: the kernel refuses it), and where
// the server maps identities (the local owner says nothing then) a
// refusal of it is ignored.
func isKillPriv(s nfsclient.SetAttr, cur nfsclient.Attr, caller rpc.Cred, kernelPermissions bool) bool {
	if s.Mode == nil || cur.Mode&setuidBits == 0 {
		return false
	}
	if *s.Mode&^setuidBits != cur.Mode&^setuidBits || *s.Mode&setuidBits == cur.Mode&setuidBits {
		return false // changes more than the setuid bits, or none of them
	}
	return !kernelPermissions || caller.UID != 0 && caller.UID != cur.UID
}
