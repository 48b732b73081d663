package fusemount

import (
	"fmt"
	"os"

	"github.com/efs-fuse/efs-fuse/internal/idmap"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Identity is who the mount's requests may claim to be.
type Identity struct {
	// Unprivileged: every request is sent as Cred, whoever makes it. True
	// for a non-root mount and for "root" inside a user namespace, whose
	// callers' ids mean nothing outside it.
	Unprivileged bool
	Cred         rpc.Cred
	// IDs are the mounting process's user namespace maps (nil in the
	// initial namespace): owners from the server are shown through them.
	IDs *idmap.Map
}

// MountIdentity works out the mount's identity from the process's ids and
// user namespace. Only a process that is root in the initial user namespace
// may send each caller's own uid (as the kernel NFS client does). Anyone
// else, including root of a rootless container (`unshare -Urm`), sends only
// the host identity of the mounting user: a uid the server would otherwise
// trust blindly through AUTH_SYS must never be chosen by an unprivileged
// user.
func MountIdentity() (Identity, error) {
	uidMap, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return Identity{}, fmt.Errorf("read uid_map: %w", err)
	}
	gidMap, err := os.ReadFile("/proc/self/gid_map")
	if err != nil {
		return Identity{}, fmt.Errorf("read gid_map: %w", err)
	}
	return identityFrom(os.Geteuid(), os.Getegid(), groups(), uidMap, gidMap)
}

func groups() []uint32 {
	gs, err := os.Getgroups()
	if err != nil {
		return nil
	}
	out := make([]uint32, 0, len(gs))
	for _, g := range gs {
		out = append(out, uint32(g))
	}
	return out
}

// identityFrom is MountIdentity on given inputs, for tests.
func identityFrom(euid, egid int, groups []uint32, uidMap, gidMap []byte) (Identity, error) {
	ids, err := idmap.Parse(uidMap, gidMap)
	if err != nil {
		return Identity{}, err
	}
	initialNS := ids.IsIdentity()
	hostUID, ok := ids.UIDToHost(uint32(euid))
	if !ok {
		return Identity{}, fmt.Errorf("uid %d: not mapped to the host", euid)
	}
	hostGID, ok := ids.GIDToHost(uint32(egid))
	if !ok {
		return Identity{}, fmt.Errorf("gid %d: not mapped to the host", egid)
	}
	id := Identity{Cred: rpc.Cred{UID: hostUID, GID: hostGID}}
	if initialNS {
		id.Cred.Groups = groups
	} else {
		id.IDs = ids
	}
	id.Unprivileged = !(euid == 0 && initialNS)
	return id, nil
}
