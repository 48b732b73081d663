package main

import (
	"reflect"
	"testing"

	"github.com/efs-fuse/efs-fuse/watchdog"
)

func TestParseMountInfo(t *testing.T) {
	data := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 0:32 / /mnt/my\040efs rw,relatime shared:2 - nfs4 127.0.0.1:/ rw,vers=4.1
37 22 0:33 / /mnt/fuse rw,nosuid,nodev shared:3 - fuse.efs-fuse fs-12345678:/ rw,user_id=0
garbage line
38 22 0:34 / /tmp rw - tmpfs tmpfs rw
`
	got := parseMountInfo(data)
	want := []mountEntry{
		{"/", "ext4", "/dev/sda1"},
		{"/mnt/my efs", "nfs4", "127.0.0.1:/"},
		{"/mnt/fuse", "fuse.efs-fuse", "fs-12345678:/"},
		{"/tmp", "tmpfs", "tmpfs"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v", got)
	}
	for _, tc := range []struct {
		mp   string
		want bool
	}{{"/mnt/my efs", true}, {"/mnt/fuse/", true}, {"/tmp", false}, {"/mnt", false}, {"/", false}} {
		if isEFSMount(got, tc.mp) != tc.want {
			t.Errorf("isEFSMount(%q) = %v", tc.mp, !tc.want)
		}
	}
	if watchdog.UnescapeMountInfo(`a\0`) != `a\0` || watchdog.UnescapeMountInfo(`\134x`) != `\x` {
		t.Error("unescape of short or backslash escapes is wrong")
	}
}
