package fusemount

import (
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/fusefs"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// TestAttrCacheOptions: the ac* options mean what they mean for the
// kernel client; a bound not given keeps the 1 s default; noac caches
// nothing, names included; no option leaves fusefs's defaults.
func TestAttrCacheOptions(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		opts string
		want *fusefs.AttrCache
		zero bool // entry and negative timeouts forced to 0
	}{
		{"tls", nil, false},
		{"tls,noac", &fusefs.AttrCache{}, true},
		{"tls,actimeo=7", &fusefs.AttrCache{RegMin: 7 * s, RegMax: 7 * s, DirMin: 7 * s, DirMax: 7 * s}, false},
		{"tls,acregmin=3,acregmax=60,acdirmin=30,acdirmax=60", &fusefs.AttrCache{RegMin: 3 * s, RegMax: 60 * s, DirMin: 30 * s, DirMax: 60 * s}, false},
		{"tls,acdirmax=5", &fusefs.AttrCache{RegMin: s, RegMax: s, DirMin: s, DirMax: 5 * s}, false},
		{"tls,actimeo=9,acregmax=20", &fusefs.AttrCache{RegMin: 9 * s, RegMax: 20 * s, DirMin: 9 * s, DirMax: 9 * s}, false},
	} {
		o, err := mountopts.Parse(tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.opts, err)
		}
		ac, entry, negative := attrCache(o, o.Settings())
		if (ac == nil) != (tc.want == nil) || ac != nil && *ac != *tc.want {
			t.Errorf("%s: attribute cache %+v, want %+v", tc.opts, ac, tc.want)
		}
		if tc.zero != (entry != nil && *entry == 0 && negative != nil && *negative == 0) {
			t.Errorf("%s: entry %v, negative %v", tc.opts, entry, negative)
		}
	}
}
