package fusefs

import (
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// TestAttrCacheAdapts: as the kernel client's attrtimeo, a timeout starts
// at the minimum, doubles while attributes stay unchanged, stops at the
// maximum and falls back to the minimum after a change; directories use
// their own bounds.
func TestAttrCacheAdapts(t *testing.T) {
	s := time.Second
	c := AttrCache{RegMin: 3 * s, RegMax: 20 * s, DirMin: 30 * s, DirMax: 60 * s}
	var got []time.Duration
	cur := time.Duration(0)
	for _, changed := range []bool{false, false, false, false, true, false} {
		cur = c.next(nfsclient.TypeReg, cur, changed)
		got = append(got, cur)
	}
	want := []time.Duration{3 * s, 6 * s, 12 * s, 20 * s, 3 * s, 6 * s}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("regular file timeouts %v, want %v", got, want)
		}
	}
	if d := c.next(nfsclient.TypeDir, 0, false); d != 30*s {
		t.Fatalf("first directory timeout %v, want acdirmin", d)
	}
	if d := c.next(nfsclient.TypeDir, 30*s, false); d != 60*s {
		t.Fatalf("second directory timeout %v, want acdirmax", d)
	}
	if d := (AttrCache{}).next(nfsclient.TypeReg, 0, false); d != 0 {
		t.Fatalf("noac: %v", d)
	}
	if d := (AttrCache{RegMin: 5 * s, RegMax: s}).next(nfsclient.TypeReg, 5*s, false); d != 5*s {
		t.Fatalf("a maximum below the minimum counts as the minimum: %v", d)
	}
}
