package fusefs_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// TestRandomReadsDoNotPrefetch: small reads that hop around a file, some
// landing close after the previous one, are one READ each. Read-ahead
// starts only for a reader that continues where it stopped.
func TestRandomReadsDoNotPrefetch(t *testing.T) {
	e := mount(t)
	const size, block, reads = 64 << 20, 4 << 10, 400
	f, err := os.Create(filepath.Join(e.export, "random"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()

	g, err := os.OpenFile(filepath.Join(e.mnt, "random"), os.O_RDONLY|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	buf := aligned(block)
	rng := rand.New(rand.NewPCG(1, 2))
	d := e.delta(func() {
		off := int64(0)
		for i := range reads {
			if i%2 == 0 {
				off = rng.Int64N(size/block-512) * block
			} else {
				off += block + 256<<10 // near, not next
			}
			if _, err := g.ReadAt(buf, off); err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
		}
	})
	t.Logf("%d random 4 KiB reads: %s", reads, show(d))
	if d["READ"] > reads+2 {
		t.Errorf("%d READs for %d random reads: read-ahead started for a random reader", d["READ"], reads)
	}
}

// aligned returns n bytes on a 4 KiB boundary, as O_DIRECT requires.
func aligned(n int) []byte {
	b := make([]byte, n+4096)
	skip := (4096 - int(uintptr(unsafe.Pointer(&b[0]))%4096)) % 4096
	return b[skip : skip+n]
}
