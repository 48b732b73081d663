package fusefs

import (
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/efs-fuse/efs-fuse/internal/idmap"
	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// TestOwnersThroughNamespaceMaps: in a rootless namespace (root is host
// uid 1000) the server's 1000 shows as 0, an id with no mapping as
// idmap.Unmapped (shown by the kernel as the overflow id), and a chown
// sends the host's id; a namespace id with no host id is never sent.
func TestOwnersThroughNamespaceMaps(t *testing.T) {
	ids, err := idmap.Parse([]byte("0 1000 1\n"), []byte("0 1000 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out fuse.Attr
	fillAttr(nfsclient.Attr{UID: 1000, GID: 1000}, &out, ids)
	if out.Uid != 0 || out.Gid != 0 {
		t.Fatalf("own file shows as %d:%d, want 0:0", out.Uid, out.Gid)
	}
	fillAttr(nfsclient.Attr{UID: 0, GID: 7}, &out, ids)
	if out.Uid != idmap.Unmapped || out.Gid != idmap.Unmapped {
		t.Fatalf("host root's file shows as %d:%d, want unmapped", out.Uid, out.Gid)
	}
	in := &fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{Valid: fuse.FATTR_UID | fuse.FATTR_GID, Owner: fuse.Owner{Uid: 0, Gid: 0}}}
	s, e := setAttrOf(in, ids)
	if e != 0 || *s.UID != 1000 || *s.GID != 1000 {
		t.Fatalf("chown 0:0 sends %v, %v", s, e)
	}
	in.Owner = fuse.Owner{Uid: 5, Gid: 0}
	if _, e := setAttrOf(in, ids); e != syscall.EINVAL {
		t.Fatalf("chown to an unmapped uid: %v, want EINVAL", e)
	}
	fillAttr(nfsclient.Attr{UID: 42, GID: 43}, &out, nil)
	if out.Uid != 42 || out.Gid != 43 {
		t.Fatal("without maps, owners must pass as they are")
	}
}
