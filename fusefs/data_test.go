package fusefs_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestBigFile writes 256 MiB with dd in 1 MiB blocks (several early
// COMMITs), and reads it back through the mount and from the export.
func TestBigFile(t *testing.T) {
	if testing.Short() {
		t.Skip("256 MiB")
	}
	e := mount(t)
	src := filepath.Join(t.TempDir(), "src")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 1<<20)
	for i := 0; i < 256; i++ {
		for j := range block {
			block[j] = byte(i*7 + j*13 + j>>9)
		}
		if _, err := f.Write(block); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	dst := filepath.Join(e.mnt, "big")
	run(t, "dd", "if="+src, "of="+dst, "bs=1M", "conv=fsync", "status=none")
	want := sum(t, src)
	if got := sum(t, dst); got != want {
		t.Fatalf("read back through the mount: sha256 %x, want %x", got, want)
	}
	if got := sum(t, filepath.Join(e.export, "big")); got != want {
		t.Fatalf("export file: sha256 %x, want %x", got, want)
	}
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// TestTarTree copies a source tree in and out with tar and compares.
func TestTarTree(t *testing.T) {
	const tree = "/usr/local/go/src/net"
	if _, err := os.Stat(tree); err != nil {
		t.Skip(err)
	}
	e := mount(t)
	in := filepath.Join(e.mnt, "net")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "net.tar")
	run(t, "tar", "-C", tree, "-cf", tarball, ".")
	run(t, "tar", "-C", in, "-xf", tarball)
	run(t, "diff", "-r", tree, in)
	run(t, "diff", "-r", tree, filepath.Join(e.export, "net"))
	out := t.TempDir()
	back := filepath.Join(t.TempDir(), "back.tar")
	run(t, "tar", "-C", in, "-cf", back, ".")
	run(t, "tar", "-C", out, "-xf", back)
	run(t, "diff", "-r", tree, out)
}

// TestConcurrentWriters runs 8 writers to different files at once.
func TestConcurrentWriters(t *testing.T) {
	e := mount(t)
	const writers, size = 8, 8 << 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte('a' + i)}, size)
			p := filepath.Join(e.mnt, fmt.Sprintf("w%d", i))
			f, err := os.Create(p)
			if err != nil {
				errs <- err
				return
			}
			for off := 0; off < size; off += 128 << 10 {
				if _, err := f.Write(data[off : off+128<<10]); err != nil {
					errs <- err
					break
				}
			}
			if err := f.Close(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := 0; i < writers; i++ {
		got, err := os.ReadFile(filepath.Join(e.export, fmt.Sprintf("w%d", i)))
		if err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte('a' + i)}, size)) {
			t.Fatalf("writer %d: export file of %d bytes, %v", i, len(got), err)
		}
	}
}
