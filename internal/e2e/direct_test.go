package e2e

import (
	"crypto/sha256"
	"io"
	"os/exec"
	"testing"
)

// fileSumDirect reads p with O_DIRECT through dd, so the data comes from
// the filesystem, not the kernel's page cache.
func fileSumDirect(t *testing.T, p string) [32]byte {
	t.Helper()
	cmd := exec.Command("dd", "if="+p, "bs=1M", "iflag=direct", "status=none")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, out); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("dd read of %s: %v", p, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}
