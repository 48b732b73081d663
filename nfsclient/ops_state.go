package nfsclient

import (
	"context"
	"fmt"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Share access and deny bits for OPEN (RFC 8881 section 18.16).
const (
	ShareRead  = nfsv4.OPEN4_SHARE_ACCESS_READ
	ShareWrite = nfsv4.OPEN4_SHARE_ACCESS_WRITE
	ShareBoth  = nfsv4.OPEN4_SHARE_ACCESS_BOTH
	DenyNone   = nfsv4.OPEN4_SHARE_DENY_NONE
	// wantNoDeleg asks for no delegation: we run no callback channel, so
	// we could never be asked to return one (section 18.16.3).
	wantNoDeleg = nfsv4.OPEN4_SHARE_ACCESS_WANT_NO_DELEG
)

// CreateMode says whether and how OPEN creates the file.
type CreateMode int

const (
	NoCreate  CreateMode = iota
	Unchecked            // create or open existing
	Guarded              // fail with EXIST if it exists
	Exclusive            // EXCLUSIVE4_1: O_EXCL that is safe to retry
)

// OpenArgs describes one OPEN. Either Dir and Name (CLAIM_NULL), or FH
// (CLAIM_FH) for a file already known by handle.
type OpenArgs struct {
	Dir    FH
	Name   string
	FH     FH
	Access uint32 // ShareRead, ShareWrite or ShareBoth
	Create CreateMode
	Attrs  SetAttr // initial attributes for a created file (mode; size 0 truncates)
	// Verifier identifies an Exclusive create so that a retried OPEN
	// finds its own file rather than failing with EXIST.
	Verifier [8]byte
	// Owner is the open-owner; empty means one per uid (RFC 8881 section
	// 9.1.2 allows any granularity; per-user is what the kernel does).
	Owner []byte
}

// OpenResult is the outcome of OPEN.
type OpenResult struct {
	FH      FH
	Stateid Stateid
	Attr    Attr
	// AttrSet is the set of attributes the server set at creation; with
	// Exclusive the caller must SETATTR the rest (section 18.16.3).
	AttrSet nfsv4.Bitmap4
	// DirChange is the directory's change attribute before and after the
	// OPEN (its change_info4); meaningful for an OPEN by name.
	DirChange ChangeInfo
}

// ChangeInfo is a directory's change attribute just before and just after
// an operation that changed it (change_info4). Atomic says the server
// took both with nothing else changing the directory in between.
type ChangeInfo struct {
	Atomic        bool
	Before, After uint64
}

// OpenOwner returns the default open-owner for cred: one per uid.
func OpenOwner(cred rpc.Cred) []byte {
	return fmt.Appendf(nil, "open-uid-%d", cred.UID)
}

// Open opens (and maybe creates) a regular file.
func (c *Client) Open(ctx context.Context, cred rpc.Cred, a OpenArgs) (OpenResult, error) {
	owner := a.Owner
	if owner == nil {
		owner = OpenOwner(cred)
	}
	args := nfsv4.Open4args{
		ShareAccess: a.Access | wantNoDeleg,
		ShareDeny:   DenyNone,
		Owner:       nfsv4.StateOwner4{Owner: owner}, // client id set by rebindOps
		Openhow:     &nfsv4.Openflag4_default{Opentype: nfsv4.OPEN4_NOCREATE},
	}
	switch a.Create {
	case Unchecked:
		args.Openhow = &nfsv4.Openflag4_OPEN4_CREATE{How: &nfsv4.Createhow4_UNCHECKED4{Createattrs: EncodeSetAttr(a.Attrs)}}
	case Guarded:
		args.Openhow = &nfsv4.Openflag4_OPEN4_CREATE{How: &nfsv4.Createhow4_GUARDED4{Createattrs: EncodeSetAttr(a.Attrs)}}
	case Exclusive:
		args.Openhow = &nfsv4.Openflag4_OPEN4_CREATE{How: &nfsv4.Createhow4_EXCLUSIVE4_1{
			ChCreateboth: nfsv4.Creatverfattr{CvaVerf: a.Verifier, CvaAttrs: EncodeSetAttr(a.Attrs)},
		}}
	}
	var ops []nfsv4.NfsArgop4
	if a.FH != nil {
		args.Claim = &nfsv4.OpenClaim4_CLAIM_FH{}
		ops = []nfsv4.NfsArgop4{putFH(a.FH), &nfsv4.NfsArgop4_OP_OPEN{Opopen: args}, &nfsv4.NfsArgop4_OP_GETFH{}, getattr(FileAttrRequest)}
	} else {
		args.Claim = &nfsv4.OpenClaim4_CLAIM_NULL{File: a.Name}
		ops = []nfsv4.NfsArgop4{putFH(a.Dir), &nfsv4.NfsArgop4_OP_OPEN{Opopen: args}, &nfsv4.NfsArgop4_OP_GETFH{}, getattr(FileAttrRequest)}
	}
	res, err := c.compound(ctx, cred, ops...)
	if err != nil {
		return OpenResult{}, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_OPEN](res, 1)
	if err != nil {
		return OpenResult{}, err
	}
	ok, err := okArm[*nfsv4.Open4res_NFS4_OK](r.Opopen, "OPEN")
	if err != nil {
		return OpenResult{}, err
	}
	fh, attr, err := fhAndAttr(res, 2)
	if err != nil {
		return OpenResult{}, err
	}
	ci := ok.Resok4.Cinfo
	return OpenResult{FH: fh, Stateid: ok.Resok4.Stateid, Attr: attr, AttrSet: ok.Resok4.Attrset,
		DirChange: ChangeInfo{Atomic: ci.Atomic, Before: ci.Before, After: ci.After}}, nil
}

// CloseState releases an open stateid (CLOSE, RFC 8881 section 18.2).
func (c *Client) CloseState(ctx context.Context, cred rpc.Cred, fh FH, stateid Stateid) error {
	_, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_CLOSE{Opclose: nfsv4.Close4args{OpenStateid: stateid}})
	return err
}

// OpenDowngrade reduces an open's share access (section 18.18), e.g. when
// the last writer among handles sharing one OPEN goes away.
func (c *Client) OpenDowngrade(ctx context.Context, cred rpc.Cred, fh FH, stateid Stateid, access uint32) (Stateid, error) {
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_OPEN_DOWNGRADE{OpopenDowngrade: nfsv4.OpenDowngrade4args{
		OpenStateid: stateid, ShareAccess: access, ShareDeny: DenyNone,
	}})
	if err != nil {
		return Stateid{}, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_OPEN_DOWNGRADE](res, 1)
	if err != nil {
		return Stateid{}, err
	}
	ok, err := okArm[*nfsv4.OpenDowngrade4res_NFS4_OK](r.OpopenDowngrade, "OPEN_DOWNGRADE")
	if err != nil {
		return Stateid{}, err
	}
	return ok.Resok4.OpenStateid, nil
}
