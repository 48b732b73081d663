package mountopts_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

var fuzzFSIDRe = regexp.MustCompile(`^fs-[0-9a-f]+$`)

// FuzzParseDevice feeds arbitrary DEVICE arguments (mount(8) passes the
// user's string as it is): no panic; a refusal is a *UsageError; an
// accepted device has an absolute path, a well-formed file system ID or a
// lower-case host, and the fs-id:path it names parses again to the same
// file system and path.
func FuzzParseDevice(f *testing.F) {
	for _, s := range []string{"fs-12345678", "fs-12345678:/", "fs-12345678:/a/b", "fs-0123456789abcdef0:/export",
		"us-east-1a.fs-12345678.efs.us-east-1.amazonaws.com:/", "fs-12345678.efs.cn-north-1.amazonaws.com.cn:/x",
		"FS-ABC.EFS.US-EAST-1.AMAZONAWS.COM.", "efs.example.com:/x", "127.0.0.1:/", "[::1]:/", ":/", "fs-xyz", "fs-1:relative", "fs-1::/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := mountopts.ParseDevice(s)
		if err != nil {
			var ue *mountopts.UsageError
			if !errors.As(err, &ue) || ue.Msg == "" {
				t.Fatalf("ParseDevice(%q) returned %T %v, want a *UsageError", s, err, err)
			}
			return
		}
		if !strings.HasPrefix(d.Path, "/") {
			t.Fatalf("ParseDevice(%q): path %q", s, d.Path)
		}
		if d.FSID == "" && d.Host == "" {
			t.Fatalf("ParseDevice(%q) = %+v: neither file system ID nor host", s, d)
		}
		if d.FSID != "" && !fuzzFSIDRe.MatchString(d.FSID) {
			t.Fatalf("ParseDevice(%q): malformed file system ID %q", s, d.FSID)
		}
		if d.Host != strings.ToLower(d.Host) || strings.Contains(d.Host, ":") {
			t.Fatalf("ParseDevice(%q): host %q not normalised", s, d.Host)
		}
		if d.Host != "" && d.FSID != "" && !strings.Contains(d.Host, d.FSID) {
			t.Fatalf("ParseDevice(%q): file system ID %q not from host %q", s, d.FSID, d.Host)
		}
		if d.FSID == "" {
			// A host name still to resolve; "FS-1" is one (as in efs-utils,
			// only a lower-case fs- names a file system), so it has no
			// canonical fs-id form.
			return
		}
		again, err := mountopts.ParseDevice(d.FSID + ":" + d.Path)
		if err != nil || again != (mountopts.Device{FSID: d.FSID, Path: d.Path}) {
			t.Fatalf("ParseDevice(%q) = %+v, but %q gives %+v (%v)", s, d, d.FSID+":"+d.Path, again, err)
		}
	})
}
