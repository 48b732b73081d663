package fusefs

// IDMap translates file owners between the server and the kernel for a
// mount made inside a user namespace (`unshare -Urm`, a rootless
// container). The server records the host ids the mount sends (the
// mounting user's); the kernel takes the ids in FUSE replies as ids of the
// mount's namespace. Without the translation the user's own files show as
// the overflow id (65534), and the kernel refuses to create in, or delete
// from, what it owns (EACCES, EOVERFLOW). The zero IDMap is the identity
// (the initial namespace).
type IDMap struct {
	UID, GID []IDRange
}

// IDRange is one line of /proc/PID/uid_map or gid_map: Count ids from
// Inside (in the namespace) are Outside onwards on the host.
type IDRange struct {
	Inside, Outside, Count uint32
}

// overflowID is what the kernel shows for an id with no mapping
// (/proc/sys/kernel/overflowuid and overflowgid default).
const overflowID = 65534

// toKernel maps a server (host) id into the namespace; an id with no
// mapping becomes the overflow id, which toServer never maps back.
func toKernel(id uint32, r []IDRange) uint32 {
	if r == nil {
		return id
	}
	for _, m := range r {
		if id >= m.Outside && uint64(id) < uint64(m.Outside)+uint64(m.Count) {
			return m.Inside + (id - m.Outside)
		}
	}
	return overflowID
}

// toServer maps an id of the namespace (a chown's) to the host id the
// server knows; ok is false for an id with no mapping.
func toServer(id uint32, r []IDRange) (uint32, bool) {
	if r == nil {
		return id, true
	}
	for _, m := range r {
		if id >= m.Inside && uint64(id) < uint64(m.Inside)+uint64(m.Count) {
			return m.Outside + (id - m.Inside), true
		}
	}
	return 0, false
}
