package fusemount

import (
	"fmt"
	"testing"
)

func TestIdentityFrom(t *testing.T) {
	full := []byte("         0          0 4294967295\n")
	for _, tc := range []struct {
		name       string
		euid, egid int
		uidMap     string
		gidMap     string
		want       string
	}{
		{"HostRoot", 0, 0, string(full), string(full), "{false {0 0 [4 5]} {[] []}}"},
		{"HostUser", 1000, 1000, string(full), string(full), "{true {1000 1000 [4 5]} {[] []}}"},
		// In a namespace, owners are translated with its maps.
		{"RootInRootlessNamespace", 0, 0, "0 1000 1\n", "0 1000 1\n", "{true {1000 1000 []} {[{0 1000 1}] [{0 1000 1}]}}"},
		{"SubordinateRange", 5, 5, "0 1000 1\n1 100000 65536\n", "0 1000 1\n1 100000 65536\n",
			"{true {100004 100004 []} {[{0 1000 1} {1 100000 65536}] [{0 1000 1} {1 100000 65536}]}}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := identityFrom(tc.euid, tc.egid, []uint32{4, 5}, []byte(tc.uidMap), []byte(tc.gidMap))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(id); got != tc.want {
				t.Fatalf("identity = %s, want %s", got, tc.want)
			}
		})
	}
	if _, err := identityFrom(7, 7, nil, []byte("0 1000 1\n"), []byte("0 1000 1\n")); err == nil {
		t.Fatal("an unmapped uid was accepted")
	}
	if _, err := identityFrom(0, 0, nil, []byte("zero 1000 1\n"), []byte("0 1000 1\n")); err == nil {
		t.Fatal("a malformed uid_map was accepted")
	}
}
