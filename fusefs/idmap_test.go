package fusefs

import "testing"

// TestIDMap: inside `unshare -Urm` (uid_map "0 1000 1") the user's host
// id shows as 0 and goes back as 1000; an id with no mapping shows as the
// overflow id and never goes back; the zero map changes nothing.
func TestIDMap(t *testing.T) {
	ns := []IDRange{{Inside: 0, Outside: 1000, Count: 1}, {Inside: 1, Outside: 100000, Count: 65536}}
	for server, kernel := range map[uint32]uint32{1000: 0, 100000: 1, 165535: 65536, 0: overflowID, 999: overflowID, 165536: overflowID} {
		if got := toKernel(server, ns); got != kernel {
			t.Errorf("toKernel(%d) = %d, want %d", server, got, kernel)
		}
	}
	for kernel, server := range map[uint32]uint32{0: 1000, 1: 100000, 65536: 165535} {
		if got, ok := toServer(kernel, ns); !ok || got != server {
			t.Errorf("toServer(%d) = %d, %v; want %d", kernel, got, ok, server)
		}
	}
	if _, ok := toServer(70000, ns); ok {
		t.Error("an id with no mapping went back to the server")
	}
	if toKernel(1234, nil) != 1234 {
		t.Error("the zero map changed an id")
	}
	if got, ok := toServer(1234, nil); !ok || got != 1234 {
		t.Error("the zero map changed an id on the way back")
	}
	// A range reaching the top of the id space does not wrap.
	top := []IDRange{{Inside: 0, Outside: 1<<32 - 2, Count: 2}}
	if got := toKernel(1, top); got != overflowID {
		t.Errorf("toKernel(1) through a range at the top = %d, want the overflow id", got)
	}
}
