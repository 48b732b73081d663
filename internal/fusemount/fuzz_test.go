package fusemount

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/idmap"
)

// FuzzReadState: a FUSE-mode state file is read by the watchdog and
// `efs-fuse status`, and a crash can leave half of one. Any bytes must give
// a complete State or an error naming the file, never a panic; an accepted
// PID must be a possible pid_t (the watchdog signals it); and what is
// accepted must survive WriteState and ReadState unchanged.
func FuzzReadState(f *testing.F) {
	f.Add([]byte(`{
  "pid": 4242,
  "cmd": ["/usr/bin/efs-fuse", "-o", "tls,iam", "fs-deadbeef:/", "/mnt/efs"],
  "mountpoint": "/mnt/efs",
  "fsId": "fs-deadbeef",
  "dnsName": "fs-deadbeef.efs.us-east-1.amazonaws.com",
  "mount_time": 1700000000.123456,
  "mode": "fuse",
  "uid": 1000,
  "gid": 1000,
  "connected": true,
  "reconnects": 3,
  "recoveries": 1,
  "last_error": "connection reset",
  "last_error_time": 1700000100.5,
  "update_time": 1700000200.25
}
`))
	f.Add([]byte(`{"pid":1,"cmd":["x"],"mountpoint":"/m","mode":"fuse"}`))
	f.Add([]byte(`{"pid":1,"cmd":["x"],"mountpoint":"/m","mode":"tunnel"}`))
	f.Add([]byte(`{"pid": 1}`))
	f.Add([]byte(`{"pid":4294967295,"cmd":["x"],"mountpoint":"/m","mode":"fuse"}`)) // kill(2) would see -1
	f.Add([]byte(`{"pid":1,"cmd":["\ud800"],"mountpoint":"/m\u0000","mode":"fuse","uid":-1,"mount_time":-1e308}`))
	f.Add([]byte(`{`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fs-deadbeef.mnt.efs.fuse")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := ReadState(p)
		if err != nil {
			if s != nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("ReadState = %+v, %v; want no state and an error naming the file", s, err)
			}
			return
		}
		if s.PID <= 0 || s.PID > math.MaxInt32 || s.MountPoint == "" || len(s.Cmd) == 0 || s.Mode != ModeFUSE {
			t.Fatalf("accepted an incomplete state or a pid that is no process id: %+v", s)
		}
		if err := WriteState(dir, "again.fuse", s); err != nil {
			t.Fatalf("WriteState of an accepted state: %v", err)
		}
		again, err := ReadState(filepath.Join(dir, "again.fuse"))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v (%v)", s, again, err)
		}
	})
}

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
