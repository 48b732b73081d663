package watchdog

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
)

// fuzzStateNames are the state file names FuzzListStates writes its input
// under, one per kind of file the watchdog reads: a FUSE-mode file, a
// fallback-mode file, a tunnel mount in progress (~) and a name that is no
// state file at all.
var fuzzStateNames = []string{
	"fs-deadbeef.mnt.efs.fuse",
	"fs-deadbeef.mnt.efs.20049",
	"~fs-deadbeef.mnt.efs.20049",
	"~fs-deadbeef.mnt.efs.fuse",
}

// FuzzListStates: the state directory holds files written by other
// processes (and half-written by crashed ones); ListStates must turn any
// bytes into an Entry with Err set or a complete state of the right mode,
// never a panic. An accepted state's PID must be a possible pid_t (the
// watchdog signals it) and its mount time must not come out before 1970.
func FuzzListStates(f *testing.F) {
	f.Add(uint8(0), []byte(`{"pid":4242,"cmd":["/usr/bin/efs-fuse","fs-deadbeef:/","/mnt/efs"],"mountpoint":"/mnt/efs","fsId":"fs-deadbeef",`+
		`"dnsName":"fs-deadbeef.efs.us-east-1.amazonaws.com","mount_time":1700000000.25,"mode":"fuse","uid":1000,"gid":1000,`+
		`"connected":true,"reconnects":2,"recoveries":1,"last_error":"connection reset","last_error_time":1700000100.5,"update_time":1700000200}`))
	f.Add(uint8(1), []byte(`{"pid":123,"cmd":["efs-fuse","tunnel","--port","20049"],"files":["/var/log/efs/tunnel.20049.log"],"mount_time":1700000000,`+
		`"mountpoint":"/mnt/efs","fsId":"fs-deadbeef","region":"us-east-1","mode":"tunnel","dnsName":"fs-deadbeef.efs.us-east-1.amazonaws.com","port":20049,`+
		`"certificate":"/var/run/efs/fs-deadbeef+/certificate.pem","privateKey":"/etc/amazon/efs/privateKey.pem","accessPoint":"fsap-0123456789abcdef0","useIam":true}`))
	f.Add(uint8(2), []byte(`{"pid":0,"cmd":["efs-fuse","tunnel"],"mountpoint":"/mnt/efs","mode":"tunnel","port":20049}`))
	f.Add(uint8(1), []byte(`{"pid":1,"cmd":["x"],"mountpoint":"/m","mode":"fuse"}`))
	f.Add(uint8(0), []byte(`{"pid":1,"cmd":["x"],"mountpoint":"/m","mode":"fuse","mount_time":1e300}`))
	f.Add(uint8(1), []byte(`{"pid":-1}`))
	// kill(2) takes a pid_t: these would signal -1 (every process) if accepted.
	f.Add(uint8(0), []byte(`{"pid":4294967295,"cmd":["x"],"mountpoint":"/m","mode":"fuse"}`))
	f.Add(uint8(1), []byte(`{"pid":4294967295,"cmd":["x"],"mountpoint":"/m","mode":"tunnel"}`))
	f.Add(uint8(3), []byte(`{`))
	f.Add(uint8(0), []byte(``))
	root := f.TempDir()
	for i := range fuzzStateNames {
		if err := os.Mkdir(filepath.Join(root, fmt.Sprint(i)), 0o700); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		k := int(kind) % len(fuzzStateNames)
		name := fuzzStateNames[k]
		dir := filepath.Join(root, fmt.Sprint(k))
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		es, err := ListStates(dir)
		if err != nil {
			t.Fatalf("ListStates: %v", err)
		}
		mode, _ := mountstate.ModeOf(name)
		if mode == "" {
			if len(es) != 0 {
				t.Fatalf("%s is no state file, yet listed: %+v", name, es)
			}
			return
		}
		if len(es) != 1 {
			t.Fatalf("%d entries for one file", len(es))
		}
		e := es[0]
		if e.Path != path || e.Mode != mode || e.Temp != strings.HasPrefix(name, mountstate.TempPrefix) {
			t.Fatalf("entry %+v for %s", e, path)
		}
		if e.Err != nil {
			if e.FUSE != nil || e.Fallback != nil {
				t.Fatalf("error %v with a state", e.Err)
			}
			if !strings.Contains(e.Err.Error(), path) {
				t.Fatalf("error does not name the file: %v", e.Err)
			}
			if e.PID() != 0 || e.MountPoint() != "" || !e.MountTime().IsZero() {
				t.Fatalf("unreadable entry has pid %d, mount point %q, time %v", e.PID(), e.MountPoint(), e.MountTime())
			}
			return
		}
		switch {
		case mode == ModeFUSE && (e.FUSE == nil || e.Fallback != nil || e.FUSE.Mode != ModeFUSE):
			t.Fatalf("FUSE file read as %+v / %+v", e.FUSE, e.Fallback)
		case mode == ModeFallback && (e.Fallback == nil || e.FUSE != nil || e.Fallback.Mode != ModeFallback):
			t.Fatalf("tunnel file read as %+v / %+v", e.FUSE, e.Fallback)
		}
		if e.MountPoint() == "" {
			t.Fatal("accepted a state without a mount point")
		}
		if pid := e.PID(); pid < 0 || pid > math.MaxInt32 || (mode == ModeFUSE && pid == 0) {
			t.Fatalf("accepted pid %d, which is no process id (signalling it could reach another process)", pid)
		}
		if mt := e.MountTime(); !mt.IsZero() && mt.Before(time.Unix(0, 0)) {
			t.Fatalf("mount time %v before the epoch", mt)
		}
	})
}

// mountInfoEscape escapes s as the kernel writes a path in mountinfo
// (fs/proc_namespace.c: space, tab, newline and backslash as \ooo).
func mountInfoEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// FuzzParseMountInfo feeds arbitrary mount tables: no panic, every key is a
// clean path, every file system type one field, and no more mounts than
// lines.
func FuzzParseMountInfo(f *testing.F) {
	f.Add("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		"36 22 0:32 / /mnt/my\\040efs rw,relatime shared:2 - nfs4 127.0.0.1:/ rw,vers=4.1\n" +
		"37 22 0:33 / /mnt/fuse rw,nosuid,nodev shared:3 - fuse.efs-fuse fs-12345678:/ rw,user_id=0\n" +
		"garbage line\n")
	f.Add("36 35 98:0 / /mnt/a\\040b rw - fuse.efs fs-1:/ rw\n90 22 0:50 / /mnt/n rw - nfs4 127.0.0.1:/ rw\n")
	f.Add(" -  - \n - x\n1 2 3 4 5 - \n1 2 3 4 \\ - t\n")
	f.Add("1 2 3 4 /a\\\\134\\0 - t s o\r\n1 2 3 4 /a/../b/ - \tt\n")
	f.Fuzz(func(t *testing.T, data string) {
		tab := ParseMountInfo(data)
		n := 0
		for mp, types := range tab {
			if mp != filepath.Clean(mp) {
				t.Fatalf("key %q is not clean", mp)
			}
			if len(types) == 0 {
				t.Fatalf("mount point %q without a type", mp)
			}
			for _, typ := range types {
				if typ == "" || strings.ContainsAny(typ, " \n") {
					t.Fatalf("type %q of %q is not one field", typ, mp)
				}
			}
			n += len(types)
			_ = tab.Has(mp, ModeFUSE)
			_ = tab.Has(mp, ModeFallback)
		}
		if lines := strings.Count(data, "\n") + 1; n > lines {
			t.Fatalf("%d mounts from %d lines", n, lines)
		}
	})
}

// FuzzUnescapeMountInfo: unescaping never grows a string, leaves a string
// without backslashes alone, and undoes the kernel's escaping of any path;
// a mount line written the kernel's way parses back to that mount point.
func FuzzUnescapeMountInfo(f *testing.F) {
	for _, s := range []string{"/mnt/my efs", `/mnt/a\040b`, `a\0`, `\134x`, `\777`, `\12`, "/tab\there", "/new\nline", `\\\`, "/mnt/efs - nfs4",
		"/mnt/a\u00a0b", "/cr\r", "/ff\f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u := UnescapeMountInfo(s)
		if len(u) > len(s) {
			t.Fatalf("UnescapeMountInfo(%q) = %q grew", s, u)
		}
		if !strings.Contains(s, `\`) && u != s {
			t.Fatalf("UnescapeMountInfo(%q) = %q changed a string without escapes", s, u)
		}
		esc := mountInfoEscape(s)
		if got := UnescapeMountInfo(esc); got != s {
			t.Fatalf("UnescapeMountInfo(%q) = %q, want %q", esc, got, s)
		}
		mp := "/" + s
		line := "36 22 0:32 / " + mountInfoEscape(mp) + " rw,relatime shared:2 - nfs4 127.0.0.1:/ rw,vers=4.1"
		tab := ParseMountInfo("22 1 8:1 / / rw - ext4 /dev/sda1 rw\n" + line + "\n")
		if !tab.Has(mp, ModeFallback) || tab.Has(mp, ModeFUSE) {
			t.Fatalf("mount point %q not found in %q: %v", mp, line, tab)
		}
	})
}
