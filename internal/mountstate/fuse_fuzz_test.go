package mountstate

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadFUSE: a FUSE-mode state file is read by the watchdog and
// `efs-fuse status`, and a crash can leave half of one. Any bytes must give
// a complete State or an error naming the file, never a panic; an accepted
// PID must be a possible pid_t (the watchdog signals it); and what is
// accepted must survive Write and ReadFUSE unchanged.
func FuzzReadFUSE(f *testing.F) {
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
		s, err := ReadFUSE(p)
		if err != nil {
			if s != nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("ReadFUSE = %+v, %v; want no state and an error naming the file", s, err)
			}
			return
		}
		if s.PID <= 0 || s.PID > math.MaxInt32 || s.MountPoint == "" || len(s.Cmd) == 0 || s.Mode != ModeFUSE {
			t.Fatalf("accepted an incomplete state or a pid that is no process id: %+v", s)
		}
		if err := Write(dir, "again.fuse", s); err != nil {
			t.Fatalf("Write of an accepted state: %v", err)
		}
		again, err := ReadFUSE(filepath.Join(dir, "again.fuse"))
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip changed the state:\n%+v\n%+v (%v)", s, again, err)
		}
	})
}
