package mountstate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFallbackFileName(t *testing.T) {
	for _, tc := range []struct{ mp, want string }{
		{"/mnt/efs", "fs-deadbeef.mnt.efs.20407"},
		{"/mnt/efs/", "fs-deadbeef.mnt.efs.20407"},
		{"/home/u/my.dir", "fs-deadbeef.home.u.my.dir.20407"},
		{"/", "fs-deadbeef..20407"}, // the helper's name for /, kept for compatibility
	} {
		if got := FallbackFileName("fs-deadbeef", tc.mp, 20407); got != tc.want {
			t.Errorf("FallbackFileName(%q) = %q, want %q", tc.mp, got, tc.want)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := &Fallback{PID: 42, Cmd: []string{"/usr/bin/efs-fuse", "tunnel", "--listen", "127.0.0.1:20407"},
		Files: []string{"/var/log/x.log"}, MountTime: 1700000000.5, MountPoint: "/mnt/efs", FSID: "fs-deadbeef",
		Region: "us-east-1", Mode: ModeFallback, DNSName: "fs-deadbeef.efs.us-east-1.amazonaws.com", Port: 20407,
		Certificate: "/var/run/efs/c.pem", PrivateKey: "/etc/amazon/efs/privateKey.pem"}
	name := FallbackFileName(s.FSID, s.MountPoint, s.Port)
	if err := Write(dir, name, s); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %o, want 600", fi.Mode().Perm())
	}
	got, err := ReadFallback(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("read back %+v\nwant %+v", got, s)
	}
	data, _ := os.ReadFile(filepath.Join(dir, name))
	for _, key := range []string{`"pid": 42`, `"cmd"`, `"files"`, `"mount_time"`, `"mountpoint"`, `"fsId"`, `"region"`, `"certificate"`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("state file lacks the helper's key %s:\n%s", key, data)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after an atomic write, want 1", len(entries))
	}
}

func TestReadFallbackMalformed(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"fs-1.mnt.a.20001": "{not json",
		"fs-1.mnt.b.20002": `{"pid": 1}`,
		"fs-1.mnt.c.20003": `{"pid": "one", "cmd": ["x"], "mountpoint": "/m"}`,
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFallback(path)
		if err == nil || !strings.Contains(err.Error(), "state file "+path+" is malformed") {
			t.Errorf("%s: %v, want an error naming the file", name, err)
		}
	}
	good := &Fallback{PID: 7, Cmd: []string{"efs-fuse", "tunnel"}, MountPoint: "/mnt/x", Mode: ModeFallback}
	if err := Write(dir, "~fs-2.mnt.x.20004", good); err != nil {
		t.Fatal(err)
	}
	if err := Write(dir, "fs-3.mnt.fuse.20005", &Fallback{PID: 8, Cmd: []string{"x"}, MountPoint: "/m", Mode: "fuse"}); err != nil {
		t.Fatal(err)
	}
	// The tunnel's log lives next to its state file by default.
	if err := os.WriteFile(filepath.Join(dir, "fs-2.mnt.x.20004.tunnel.log"), []byte("2026-12-06 log line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	var bad, temps int
	for _, e := range list {
		if e.Err != nil {
			bad++
		}
		if e.Temp && e.Fallback != nil && e.Fallback.PID == 7 {
			temps++
		}
	}
	// The FUSE-mode content under a fallback name is an error: not skipped.
	if len(list) != 5 || bad != 4 || temps != 1 {
		t.Errorf("List = %d entries, %d malformed, %d temp; want 5, 4, 1", len(list), bad, temps)
	}
}

// TestReadFallbackLegacyMode: state files written before the mode had one
// name say "tunnel"; they read as fallback, so an upgrade keeps
// supervising the mounts made before it.
func TestReadFallbackLegacyMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fs-1.mnt.x.20049")
	if err := os.WriteFile(p, []byte(`{"pid":7,"cmd":["efs-fuse","tunnel"],"mountpoint":"/mnt/x","mode":"tunnel","port":20049}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ReadFallback(p)
	if err != nil || s.Mode != ModeFallback {
		t.Fatalf("ReadFallback = %+v, %v; want mode %q", s, err, ModeFallback)
	}
}
