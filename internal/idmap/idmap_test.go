package idmap

import "testing"

func TestMapBothWays(t *testing.T) {
	// unshare -Urm as uid 1000: namespace root is host 1000, nothing else.
	m, err := Parse([]byte("         0       1000          1\n"), []byte("0 1000 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.IsIdentity() {
		t.Fatal("a one-id map is not the identity")
	}
	if id, ok := m.UIDToHost(0); !ok || id != 1000 {
		t.Fatalf("ns root to host: %d, %v", id, ok)
	}
	if _, ok := m.UIDToHost(5); ok {
		t.Fatal("an unmapped namespace id reached the host")
	}
	if id := m.UIDFromHost(1000); id != 0 {
		t.Fatalf("host 1000 in the namespace: %d", id)
	}
	for _, host := range []uint32{0, 999, 1001, 65534} {
		if id := m.UIDFromHost(host); id != Unmapped {
			t.Fatalf("host %d in the namespace: %d, want Unmapped", host, id)
		}
	}
	// podman rootless: root is the user, 1..65536 a subordinate range.
	p, err := Parse([]byte("0 1000 1\n1 100000 65536\n"), []byte("0 1000 1\n1 100000 65536\n"))
	if err != nil {
		t.Fatal(err)
	}
	if id := p.GIDFromHost(100009); id != 10 {
		t.Fatalf("host gid 100009 in the container: %d, want 10", id)
	}
	if id, ok := p.GIDToHost(10); !ok || id != 100009 {
		t.Fatalf("container gid 10 to host: %d, %v", id, ok)
	}
	var identity *Map
	if !identity.IsIdentity() || identity.UIDFromHost(7) != 7 {
		t.Fatal("nil map is not the identity")
	}
	full, _ := Parse([]byte("0 0 4294967295\n"), []byte("0 0 4294967295\n"))
	if !full.IsIdentity() {
		t.Fatal("the initial namespace's map is the identity")
	}
}

func TestMalformed(t *testing.T) {
	for _, m := range []string{"0 1000", "0 x 1", "4294967295 0 2", "0 4294967295 2"} {
		if _, err := Parse([]byte(m), nil); err == nil {
			t.Errorf("%q parsed", m)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("0 1000 1\n1 100000 65536\n"), uint32(5))
	f.Fuzz(func(t *testing.T, m []byte, id uint32) {
		p, err := Parse(m, m)
		if err != nil {
			return
		}
		if ns := p.UIDFromHost(id); ns != Unmapped {
			if back, ok := p.UIDToHost(ns); !ok || back != id && !overlapping(p.uid) {
				t.Fatalf("host %d -> ns %d -> host %d, %v", id, ns, back, ok)
			}
		}
	})
}

// overlapping maps (which the kernel refuses) may not round-trip.
func overlapping(t table) bool {
	for i, a := range t {
		for _, b := range t[i+1:] {
			if a.in < b.in+b.n && b.in < a.in+a.n || a.out < b.out+b.n && b.out < a.out+a.n {
				return true
			}
		}
	}
	return false
}
