package fusemount

import (
	"testing"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// TestFuseOptionsAccessPoint: with an access point EFS acts as its user
// for every caller, so the kernel must not check permissions against the
// file's owner (fusefs.Options.ServerMapsIdentity); without one it does.
func TestFuseOptionsAccessPoint(t *testing.T) {
	for opts, want := range map[string]bool{
		"tls":                                    false,
		"tls,accesspoint=fsap-0123456789abcdef0": true,
	} {
		o, err := mountopts.Parse(opts)
		if err != nil {
			t.Fatalf("%s: %v", opts, err)
		}
		req := &mountopts.MountRequest{FSID: "fs-12345678", Path: "/", Options: o}
		fo := fuseOptions(req, nil, nil, nfsclient.Attr{}, Identity{}, zap.NewNop())
		if fo.ServerMapsIdentity != want {
			t.Errorf("-o %s: ServerMapsIdentity %v, want %v", opts, fo.ServerMapsIdentity, want)
		}
	}
}
