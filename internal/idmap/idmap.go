// Package idmap translates user and group ids between a user namespace and
// the host (the initial namespace), from /proc/<pid>/uid_map and gid_map.
// The mount helper uses it to find the mounting user's host identity;
// fusefs uses it to show the server's (host) owners as the ids the
// namespace knows them by, and to send the host ids of a chown.
package idmap

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Unmapped is the id shown for a host id with no id in the namespace.
// It is no valid id (the kernel's INVALID_UID), so the kernel shows it as
// the overflow id (65534) and refuses to write it back or to let anyone
// but the namespace's root change such a file, as for any unmapped owner.
const Unmapped = ^uint32(0)

// extent is one line "inside outside count" of a map.
type extent struct{ in, out, n uint64 }

// table is one map (uids or gids).
type table []extent

// Map is a namespace's uid and gid maps. The zero value and nil are the
// identity (the initial namespace).
type Map struct {
	uid, gid table
}

// Load reads the current process's maps.
func Load() (*Map, error) {
	u, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return nil, fmt.Errorf("read uid_map: %w", err)
	}
	g, err := os.ReadFile("/proc/self/gid_map")
	if err != nil {
		return nil, fmt.Errorf("read gid_map: %w", err)
	}
	return Parse(u, g)
}

// Parse reads uid_map and gid_map contents.
func Parse(uidMap, gidMap []byte) (*Map, error) {
	u, err := parse(uidMap)
	if err != nil {
		return nil, fmt.Errorf("uid_map: %w", err)
	}
	g, err := parse(gidMap)
	if err != nil {
		return nil, fmt.Errorf("gid_map: %w", err)
	}
	return &Map{uid: u, gid: g}, nil
}

func parse(m []byte) (table, error) {
	var t table
	sc := bufio.NewScanner(bytes.NewReader(m))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, fmt.Errorf("malformed id map line %q", sc.Text())
		}
		in, err1 := strconv.ParseUint(f[0], 10, 32)
		out, err2 := strconv.ParseUint(f[1], 10, 32)
		n, err3 := strconv.ParseUint(f[2], 10, 33)
		// The kernel keeps both ranges within 32 bits; a line that does not
		// would map past 2^32 and wrap (an ordinary id could come out as 0).
		if err1 != nil || err2 != nil || err3 != nil || in+n > 1<<32 || out+n > 1<<32 {
			return nil, fmt.Errorf("malformed id map line %q", sc.Text())
		}
		t = append(t, extent{in, out, n})
	}
	return t, nil
}

// IsIdentity reports the initial namespace's maps ("0 0 4294967295").
func (m *Map) IsIdentity() bool {
	return m == nil || m.uid.isIdentity() && m.gid.isIdentity()
}

func (t table) isIdentity() bool {
	return len(t) == 1 && t[0].in == 0 && t[0].out == 0 && t[0].n >= 1<<32-1
}

// UIDToHost maps a uid of the namespace to the host's.
func (m *Map) UIDToHost(id uint32) (uint32, bool) { return m.table(true).toHost(id) }

// GIDToHost maps a gid of the namespace to the host's.
func (m *Map) GIDToHost(id uint32) (uint32, bool) { return m.table(false).toHost(id) }

// UIDFromHost maps a host uid to the namespace's, or Unmapped.
func (m *Map) UIDFromHost(id uint32) uint32 { return m.table(true).fromHost(id) }

// GIDFromHost maps a host gid to the namespace's, or Unmapped.
func (m *Map) GIDFromHost(id uint32) uint32 { return m.table(false).fromHost(id) }

func (m *Map) table(uid bool) table {
	switch {
	case m == nil:
		return table{{0, 0, 1 << 32}}
	case uid:
		return m.uid
	default:
		return m.gid
	}
}

func (t table) toHost(id uint32) (uint32, bool) {
	for _, e := range t {
		if uint64(id) >= e.in && uint64(id) < e.in+e.n {
			return uint32(e.out + (uint64(id) - e.in)), true
		}
	}
	return 0, false
}

func (t table) fromHost(id uint32) uint32 {
	for _, e := range t {
		if uint64(id) >= e.out && uint64(id) < e.out+e.n {
			return uint32(e.in + (uint64(id) - e.out))
		}
	}
	return Unmapped
}
