package e2e

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestNConnect: `-o nconnect=3` mounts over three TLS connections bound to
// one session; a large file written and read through the mount is whole,
// also across a cut of all three.
func TestNConnect(t *testing.T) {
	r := mountRig(t, "nconnect=3")
	data := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB
	want := sha256.Sum256(data)
	p := filepath.Join(r.mnt, "big")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// The extras are bound in the background, right after the mount.
	var live int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if live = r.tgt.CutConnections(); live == 3 || time.Now().After(deadline) {
			break
		}
	}
	if live != 3 {
		t.Fatalf("the target cut %d connections of an nconnect=3 mount, want 3", live)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read after every connection was cut: %v", err)
	}
	if sha256.Sum256(got) != want {
		t.Fatal("data read back through the mount differs")
	}
	if b, _ := os.ReadFile(filepath.Join(r.export, "big")); sha256.Sum256(b) != want {
		t.Fatal("the file on the server differs")
	}
}
