package fusemount

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRemountArgv(t *testing.T) {
	tests := []struct{ in, want string }{
		{"-o tls -f fs-1:/ /mnt", "-o tls fs-1:/ /mnt"},
		{"-f -o tls fs-1:/ /mnt", "-o tls fs-1:/ /mnt"},
		{"-fv -o tls fs-1:/ /mnt", "-v -o tls fs-1:/ /mnt"},
		{"--foreground -o tls fs-1:/ /mnt --config /c", "-o tls fs-1:/ /mnt --config /c"},
		{"-o -f fs-1:/ /mnt", "-o -f fs-1:/ /mnt"}, // a value, not the flag
		{"fs-1:/ /mnt -o tls,iam", "fs-1:/ /mnt -o tls,iam"},
	}
	for _, tc := range tests {
		got := RemountArgv("/usr/bin/efs-fuse", strings.Fields(tc.in))
		want := append([]string{"/usr/bin/efs-fuse"}, strings.Fields(tc.want)...)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("RemountArgv(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	name := StateFileName("fs-deadbeef", "/mnt/efs/")
	if name != "fs-deadbeef.mnt.efs.fuse" || !IsStateFileName(name) {
		t.Fatalf("name %q", name)
	}
	st := &State{PID: 42, Cmd: []string{"efs-fuse", "fs-deadbeef:/", "/mnt/efs"}, MountPoint: "/mnt/efs", FSID: "fs-deadbeef",
		Mode: ModeFUSE, Reconnects: 3, LastError: "connection reset"}
	if err := WriteState(dir, name, st); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, name))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode: %v %v", fi.Mode(), err)
	}
	got, err := ReadState(filepath.Join(dir, name))
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Fatalf("read back %+v, %v", got, err)
	}
	for _, bad := range []string{"{", `{"pid": 1}`, `{"pid":1,"cmd":["x"],"mountpoint":"/m","mode":"tunnel"}`} {
		p := filepath.Join(dir, "fs-bad.fuse")
		if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadState(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadState(%q) = %v, want an error naming the file", bad, err)
		}
	}
}

// TestStateCmdFromRequest: the state file's remount command comes from the
// request's RemountArgs (paths made absolute by the command), not from
// this process's argv, which may hold relative ones.
func TestStateCmdFromRequest(t *testing.T) {
	req := request(t, "127.0.0.1:2049", "tls")
	req.MountPoint = "/mnt/efs"
	req.RemountArgs = []string{"fs-12345678:/", "/mnt/efs", "-o", "tls,cafile=/home/u/ca.pem"}
	st := Mounter{RemountCmd: nil}.state(req)
	if got := strings.Join(st.Cmd[1:], " "); got != "fs-12345678:/ /mnt/efs -o tls,cafile=/home/u/ca.pem" {
		t.Errorf("state Cmd = %q", st.Cmd)
	}
}
