package fusefs_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// TestOpenReplacedByOtherClient: another client renames a new file over
// one whose name the kernel still has cached. Opening the name must give
// the new file, as on the kernel NFS client (which opens by name), not
// ENOENT for the old one's stale handle; a removed one is ENOENT.
func TestOpenReplacedByOtherClient(t *testing.T) {
	e := mount(t)
	p := filepath.Join(e.mnt, "f")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		if got, err := readNoStat(p); err != nil {
			t.Fatalf("round %d: read before the rename: %v", round, err)
		} else if round == 0 && string(got) != "old" {
			t.Fatalf("read %q", got)
		}
		want := []byte("new content " + time.Now().String())
		otherClient(t, e, "g", want)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		root, _, err := e.client.LookupPath(ctx, rpc.Root, "/")
		if err == nil {
			err = e.client.Rename(ctx, rpc.Root, root, "g", root, "f")
		}
		cancel()
		if err != nil {
			t.Fatalf("other client: rename g over f: %v", err)
		}
		got, err := readNoStat(p)
		if err != nil || string(got) != string(want) {
			t.Fatalf("round %d: open of a name another client replaced: %q, %v; want %q", round, got, err, want)
		}
	}
	// Removed, not replaced: the name is gone (ENOENT), not stale.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	root, _, err := e.client.LookupPath(ctx, rpc.Root, "/")
	if err == nil {
		err = e.client.Remove(ctx, rpc.Root, root, "f")
	}
	if err != nil {
		t.Fatalf("other client: remove f: %v", err)
	}
	if _, err := readNoStat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a name another client removed: %v, want ENOENT", err)
	}
}
