package e2e

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
)

// TestFullDisk: an export that fills up (a 16 MiB tmpfs) makes a large
// write fail with ENOSPC, reported by write, fsync or close (write-behind
// may hold the failing WRITE until then), never as success; what was
// written before is intact, and once space is freed the mount writes again.
func TestFullDisk(t *testing.T) {
	export := t.TempDir()
	if err := syscall.Mount("tmpfs", export, "tmpfs", 0, "size=16m,mode=0777"); err != nil {
		t.Skipf("cannot mount a small tmpfs for the export (needs root): %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(export, syscall.MNT_DETACH) })
	r := mountRig(t, "", func(o *localtarget.Options) { o.ExportDir = export })

	keep := bytes.Repeat([]byte("kept;"), 1000)
	if err := os.WriteFile(filepath.Join(r.mnt, "kept"), keep, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(r.mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	block := bytes.Repeat([]byte{0xa5}, 1<<20)
	var werr error
	written := 0
	for i := 0; i < 32 && werr == nil; i++ {
		var n int
		n, werr = f.Write(block)
		written += n
	}
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if !errors.Is(werr, syscall.ENOSPC) {
		t.Fatalf("writing 32 MiB to a 16 MiB export: %v after %d bytes, want ENOSPC", werr, written)
	}
	t.Logf("writing 32 MiB to a 16 MiB export: %v after %d MiB accepted", werr, written>>20)

	if b, err := os.ReadFile(filepath.Join(r.mnt, "kept")); err != nil || !bytes.Equal(b, keep) {
		t.Fatalf("the file written before the disk filled: %d bytes, %v", len(b), err)
	}
	if err := os.Remove(filepath.Join(r.mnt, "big")); err != nil {
		t.Fatalf("remove the file that filled the disk: %v", err)
	}
	if err := os.WriteFile(filepath.Join(r.mnt, "after"), block, 0o644); err != nil {
		t.Fatalf("write after space was freed: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(export, "after")); err != nil || !bytes.Equal(b, block) {
		t.Fatalf("the file written after space was freed, on the server: %d bytes, %v", len(b), err)
	}
}
