package watchdog

import (
	"path/filepath"
	"strconv"
	"strings"
)

// MountTable is the set of mount points in a mount table, with their
// file system types.
type MountTable map[string][]string

// ParseMountInfo reads /proc/self/mountinfo content (proc(5)). Lines it
// cannot read are skipped: one odd line must not hide every mount.
func ParseMountInfo(data string) MountTable {
	t := MountTable{}
	for _, line := range strings.Split(data, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := MountInfoFields(pre), MountInfoFields(post)
		if len(f) < 5 || len(g) < 1 {
			continue
		}
		mp := filepath.Clean(UnescapeMountInfo(f[4]))
		t[mp] = append(t[mp], g[0])
	}
	return t
}

// MountInfoFields splits (part of) a mountinfo line at spaces only. The kernel
// escapes space, tab, newline and backslash in paths but writes any other
// byte as it is, so strings.Fields (any Unicode space: \v, \r, NBSP...)
// would cut a path such as "/mnt/a\u00a0b" in two.
func MountInfoFields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' })
}

// Types returns the file system types mounted at mountPoint, oldest first.
func (t MountTable) Types(mountPoint string) []string { return t[filepath.Clean(mountPoint)] }

// Has reports whether mountPoint carries a mount of the mode's kind: FUSE
// (fuse.*) for "fuse", NFS for "tunnel". The kind matters: after a lazy
// unmount the directory underneath must not count as the mount.
func (t MountTable) Has(mountPoint, mode string) bool {
	for _, typ := range t[filepath.Clean(mountPoint)] {
		if mode == "fuse" && (typ == "fuse" || strings.HasPrefix(typ, "fuse.")) {
			return true
		}
		if mode != "fuse" && strings.HasPrefix(typ, "nfs") {
			return true
		}
	}
	return false
}

// UnescapeMountInfo undoes the kernel's octal escapes (\040 for a space).
func UnescapeMountInfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
