package main

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParseMountInfo feeds arbitrary mount tables to the mount helper's
// reader (it decides whether a mount point already carries an EFS mount):
// no panic, no more entries than lines, every entry's type one field; and a
// line the kernel could write for any mount point (escaping space, tab,
// newline and backslash, fs/proc_namespace.c) reads back as that mount.
func FuzzParseMountInfo(f *testing.F) {
	f.Add("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		"36 22 0:32 / /mnt/my\\040efs rw,relatime shared:2 - nfs4 127.0.0.1:/ rw,vers=4.1\n" +
		"37 22 0:33 / /mnt/fuse rw,nosuid,nodev shared:3 - fuse.efs-fuse fs-12345678:/ rw,user_id=0\n" +
		"garbage line\n38 22 0:34 / /tmp rw - tmpfs tmpfs rw\n")
	f.Add(" -  - \n - x y\n1 2 3 4 5 - t\n1 2 3 4 \\ - t \\134\\0\n")
	f.Fuzz(func(t *testing.T, data string) {
		es := parseMountInfo(data)
		if lines := strings.Count(data, "\n") + 1; len(es) > lines {
			t.Fatalf("%d entries from %d lines", len(es), lines)
		}
		for _, e := range es {
			if e.FSType == "" || strings.ContainsAny(e.FSType, " \n") {
				t.Fatalf("type %q is not one field", e.FSType)
			}
			_ = isEFSMount(es, e.MountPoint)
		}
		_ = isEFSMount(es, "/mnt/efs")

		mp := "/" + data
		line := "36 22 0:32 / " + kernelEscape(mp) + " rw,relatime shared:2 - nfs4 " + kernelEscape(data) + ":/ rw,vers=4.1\n"
		got := parseMountInfo(line)
		if want := []mountEntry{{mp, "nfs4", data + ":/"}}; len(got) != 1 || got[0] != want[0] {
			t.Fatalf("parseMountInfo(%q) = %+v, want %+v", line, got, want)
		}
	})
}

// kernelEscape escapes s as the kernel writes paths in mountinfo.
func kernelEscape(s string) string {
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
