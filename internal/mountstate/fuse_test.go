package mountstate

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	name := FUSEFileName("fs-deadbeef", "/mnt/efs/")
	if name != "fs-deadbeef.mnt.efs.fuse" || !IsFUSEFileName(name) {
		t.Fatalf("name %q", name)
	}
	st := &FUSE{PID: 42, Cmd: []string{"efs-fuse", "fs-deadbeef:/", "/mnt/efs"}, MountPoint: "/mnt/efs", FSID: "fs-deadbeef",
		Mode: ModeFUSE, Reconnects: 3, LastError: "connection reset"}
	if err := Write(dir, name, st); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode: %v %v", fi.Mode(), err)
	}
	got, err := ReadFUSE(filepath.Join(dir, name))
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	for _, bad := range []string{"{", `{"pid": 1}`, `{"pid":1,"cmd":["x"],"mountpoint":"/m","mode":"tunnel"}`} {
		p := filepath.Join(dir, "fs-bad.fuse")
		if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadFUSE(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadFUSE(%q) = %v, want an error naming the file", bad, err)
		}
	}
}
