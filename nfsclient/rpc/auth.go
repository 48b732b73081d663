package rpc

import (
	"bytes"

	"github.com/buildbarn/go-xdr/pkg/protocols/rpcv2"
)

// MaxGroups is the number of supplementary groups AUTH_SYS can carry
// (RFC 5531 appendix A). EFS enforces the same limit.
const MaxGroups = 16

// Cred is the identity a call runs as: AUTH_SYS uid, gid and supplementary
// groups. Every call chooses its own Cred, so one connection carries the
// requests of many local users, each checked by the server as itself.
type Cred struct {
	UID, GID uint32
	Groups   []uint32
}

// Root is the credential for requests that belong to no user (session
// management, lease renewal).
var Root = Cred{}

// authSys encodes c as an AUTH_SYS opaque_auth. Groups beyond MaxGroups are
// dropped rather than refused: the kernel client does the same, and the
// primary gid still decides most checks.
func (c Cred) authSys(machine string, stamp uint32) rpcv2.OpaqueAuth {
	groups := c.Groups
	if len(groups) > MaxGroups {
		groups = groups[:MaxGroups]
	}
	p := rpcv2.AuthsysParms{
		Stamp:       stamp,
		Machinename: machine,
		Uid:         c.UID,
		Gid:         c.GID,
		Gids:        groups,
	}
	var b bytes.Buffer
	b.Grow(p.GetEncodedSizeBytes())
	// Writing to a bytes.Buffer cannot fail; the only error source is a
	// machine name over 255 bytes, which NewConn truncates beforehand.
	_, _ = p.WriteTo(&b)
	return rpcv2.OpaqueAuth{Flavor: rpcv2.AUTH_SYS, Body: b.Bytes()}
}
