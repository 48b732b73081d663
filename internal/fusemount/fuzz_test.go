package fusemount

import (
	"bufio"
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/idmap"
)

// FuzzIdentityMap feeds arbitrary uid_map/gid_map content (proc(5) "inside
// outside count" lines): no panic; an id is mapped only through a line that
// covers it, to exactly outside + (id - inside), never wrapped around 2^32
// (which could turn an unprivileged uid into 0); and only the initial
// namespace's identity map may make a mount privileged.
func FuzzIdentityMap(f *testing.F) {
	for _, m := range []string{
		"         0          0 4294967295\n",
		"0 1000 1\n",
		"0 1000 1\n1 100000 65536\n",
		"4294967295 0 1\n",
		"0 4294967295 2\n", // id 1 would wrap to 0
		"zero 1000 1\n",
		"0 0 8589934591\n",
		"\n\n1 2\n1 2 3 4\n",
	} {
		f.Add(uint32(0), []byte(m))
		f.Add(uint32(1), []byte(m))
	}
	f.Add(uint32(65535), []byte("0 1000 1\r\n1 100000 65536\r\n"))
	f.Fuzz(func(t *testing.T, id uint32, m []byte) {
		var host uint32
		ids, err := idmap.Parse(m, m)
		if err == nil {
			var ok bool
			if host, ok = ids.UIDToHost(id); !ok {
				err = errors.New("not mapped")
			}
		}
		if err == nil && !coveredBy(id, host, m) {
			t.Fatalf("toHost(%d) = %d: no line of %q maps %d there", id, host, m, id)
		}
		ident, err := identityFrom(int(id), int(id), []uint32{4, 5}, m, m)
		if err != nil {
			return
		}
		if ident.Cred.UID != host || ident.Cred.GID != host {
			t.Fatalf("identity %+v, toHost %d", ident, host)
		}
		if !ident.Unprivileged && (id != 0 || !ids.IsIdentity()) {
			t.Fatalf("privileged identity from id %d and map %q", id, m)
		}
		if ident.Unprivileged && ident.Cred.Groups != nil && !ids.IsIdentity() {
			t.Fatalf("supplementary groups sent from a user namespace: %+v", ident)
		}
	})
}

// coveredBy reports whether a line of m maps id to host without wrapping.
func coveredBy(id, host uint32, m []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(m))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.ParseUint(f[0], 10, 64)
		out, err2 := strconv.ParseUint(f[1], 10, 64)
		n, err3 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return false
		}
		if uint64(id) >= in && uint64(id)-in < n && out+(uint64(id)-in) == uint64(host) {
			return true
		}
	}
	return false
}
