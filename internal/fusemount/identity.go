package fusemount

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Identity is who the mount's requests may claim to be.
type Identity struct {
	// Unprivileged: every request is sent as Cred, whoever makes it. True
	// for a non-root mount and for "root" inside a user namespace, whose
	// callers' ids mean nothing outside it.
	Unprivileged bool
	Cred         rpc.Cred
	// IDMap translates owners between the server (host ids) and this
	// user namespace; zero in the initial namespace.
	IDMap fusefs.IDMap
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
	initialNS := isIdentityMap(uidMap)
	hostUID, err := toHost(uint32(euid), uidMap)
	if err != nil {
		return Identity{}, fmt.Errorf("uid %d: %w", euid, err)
	}
	hostGID, err := toHost(uint32(egid), gidMap)
	if err != nil {
		return Identity{}, fmt.Errorf("gid %d: %w", egid, err)
	}
	id := Identity{Cred: rpc.Cred{UID: hostUID, GID: hostGID}}
	if initialNS {
		id.Cred.Groups = groups
	}
	id.Unprivileged = !(euid == 0 && initialNS)
	if !initialNS {
		if id.IDMap.UID, err = idRanges(uidMap); err != nil {
			return Identity{}, err
		}
		if id.IDMap.GID, err = idRanges(gidMap); err != nil {
			return Identity{}, err
		}
	}
	return id, nil
}

// idRanges parses a uid_map or gid_map ("inside outside count" lines).
func idRanges(m []byte) ([]fusefs.IDRange, error) {
	out := []fusefs.IDRange{}
	sc := bufio.NewScanner(bytes.NewReader(m))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		o, err2 := strconv.ParseUint(f[1], 10, 32)
		n, err3 := strconv.ParseUint(f[2], 10, 33)
		if err1 != nil || err2 != nil || err3 != nil || in+n > 1<<32 || o+n > 1<<32 || n == 0 || n > 1<<32-1 {
			return nil, fmt.Errorf("malformed id map line %q", sc.Text())
		}
		out = append(out, fusefs.IDRange{Inside: uint32(in), Outside: uint32(o), Count: uint32(n)})
	}
	return out, nil
}

// isIdentityMap reports the initial user namespace's map, "0 0 4294967295".
func isIdentityMap(m []byte) bool {
	f := strings.Fields(string(m))
	return len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295"
}

// toHost maps an id inside this user namespace to the host (initial
// namespace) id, through the lines "inside outside count" of a uid_map or
// gid_map.
func toHost(id uint32, m []byte) (uint32, error) {
	sc := bufio.NewScanner(bytes.NewReader(m))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		out, err2 := strconv.ParseUint(f[1], 10, 32)
		n, err3 := strconv.ParseUint(f[2], 10, 33)
		// The kernel keeps both ranges within 32 bits; a line that does not
		// would map past 2^32 and wrap (an ordinary id could come out as 0).
		if err1 != nil || err2 != nil || err3 != nil || in+n > 1<<32 || out+n > 1<<32 {
			return 0, fmt.Errorf("malformed id map line %q", sc.Text())
		}
		if uint64(id) >= in && uint64(id) < in+n {
			return uint32(out + (uint64(id) - in)), nil
		}
	}
	return 0, fmt.Errorf("not mapped to the host")
}
