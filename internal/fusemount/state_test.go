package fusemount

import (
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
