package main

import "testing"

func TestIsEFSMount(t *testing.T) {
	data := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 0:32 / /mnt/my\040efs rw,relatime shared:2 - nfs4 127.0.0.1:/ rw,vers=4.1
37 22 0:33 / /mnt/fuse rw,nosuid,nodev shared:3 - fuse.efs-fuse fs-12345678:/ rw,user_id=0
39 22 0:35 / /mnt/a` + "\u00a0" + `b rw - nfs4 127.0.0.1:/ rw
garbage line
38 22 0:34 / /tmp rw - tmpfs tmpfs rw
40 22 0:36 / /mnt/other rw - fuse.sshfs host: rw
`
	for _, tc := range []struct {
		mp   string
		want bool
	}{
		{"/mnt/my efs", true}, {"/mnt/fuse/", true}, {"/mnt/a\u00a0b", true},
		{"/tmp", false}, {"/mnt", false}, {"/", false}, {"/mnt/other", false},
	} {
		if isEFSMount(data, tc.mp) != tc.want {
			t.Errorf("isEFSMount(%q) = %v", tc.mp, !tc.want)
		}
	}
}
