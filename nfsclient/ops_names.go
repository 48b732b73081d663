package nfsclient

import (
	"context"
	"fmt"
	"strings"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// FH is an NFSv4 file handle (opaque, at most 128 bytes).
type FH []byte

// Stateid identifies open, lock or delegation state (RFC 8881 section 8.2).
type Stateid = nfsv4.Stateid4

// Special stateids (RFC 8881 section 8.2.3).
var (
	// AnonymousStateid is all zeros: I/O without open state.
	AnonymousStateid = Stateid{}
	// CurrentStateid (seqid 1, other zero) stands for the stateid the
	// previous op in the same COMPOUND produced.
	CurrentStateid = Stateid{Seqid: 1}
)

func putFH(fh FH) nfsv4.NfsArgop4 {
	if fh == nil {
		return &nfsv4.NfsArgop4_OP_PUTROOTFH{}
	}
	return &nfsv4.NfsArgop4_OP_PUTFH{Opputfh: nfsv4.Putfh4args{Object: fh}}
}

func getattr(mask nfsv4.Bitmap4) nfsv4.NfsArgop4 {
	return &nfsv4.NfsArgop4_OP_GETATTR{Opgetattr: nfsv4.Getattr4args{AttrRequest: mask}}
}

// attrAt decodes the GETATTR result at position i.
func attrAt(res []nfsv4.NfsResop4, i int) (Attr, error) {
	f, err := fattrAt(res, i)
	if err != nil {
		return Attr{}, err
	}
	return DecodeAttr(f)
}

func fattrAt(res []nfsv4.NfsResop4, i int) (*nfsv4.Fattr4, error) {
	r, err := resultAt[*nfsv4.NfsResop4_OP_GETATTR](res, i)
	if err != nil {
		return nil, err
	}
	ok, err := okArm[*nfsv4.Getattr4res_NFS4_OK](r.Opgetattr, "GETATTR")
	if err != nil {
		return nil, err
	}
	return &ok.Resok4.ObjAttributes, nil
}

// fhAt returns the GETFH result at position i.
func fhAt(res []nfsv4.NfsResop4, i int) (FH, error) {
	r, err := resultAt[*nfsv4.NfsResop4_OP_GETFH](res, i)
	if err != nil {
		return nil, err
	}
	ok, err := okArm[*nfsv4.Getfh4res_NFS4_OK](r.Opgetfh, "GETFH")
	if err != nil {
		return nil, err
	}
	return ok.Resok4.Object, nil
}

// okArm asserts that a result union holds its NFS4_OK arm. compound has
// already turned failed statuses into *Error, so anything else here is a
// reply that contradicts itself.
func okArm[T any](v any, op string) (T, error) {
	t, ok := v.(T)
	if !ok {
		return t, fmt.Errorf("%w: %s result is not NFS4_OK despite a successful COMPOUND", rpc.ErrGarbledReply, op)
	}
	return t, nil
}

// LookupPath resolves an absolute path from the server's root (the export
// path of a mount, "fs-id:/path"). "" and "/" give the root itself.
func (c *Client) LookupPath(ctx context.Context, cred rpc.Cred, path string) (FH, Attr, error) {
	ops := []nfsv4.NfsArgop4{putFH(nil)}
	for _, name := range strings.Split(path, "/") {
		if name == "" || name == "." {
			continue
		}
		ops = append(ops, &nfsv4.NfsArgop4_OP_LOOKUP{Oplookup: nfsv4.Lookup4args{Objname: name}})
	}
	ops = append(ops, &nfsv4.NfsArgop4_OP_GETFH{}, getattr(FileAttrRequest))
	res, err := c.compound(ctx, cred, ops...)
	if err != nil {
		return nil, Attr{}, fmt.Errorf("look up %q: %w", path, err)
	}
	return fhAndAttr(res, len(ops)-2)
}

func fhAndAttr(res []nfsv4.NfsResop4, i int) (FH, Attr, error) {
	fh, err := fhAt(res, i)
	if err != nil {
		return nil, Attr{}, err
	}
	a, err := attrAt(res, i+1)
	return fh, a, err
}

// Lookup finds name in directory dir.
func (c *Client) Lookup(ctx context.Context, cred rpc.Cred, dir FH, name string) (FH, Attr, error) {
	res, err := c.compound(ctx, cred, putFH(dir),
		&nfsv4.NfsArgop4_OP_LOOKUP{Oplookup: nfsv4.Lookup4args{Objname: name}},
		&nfsv4.NfsArgop4_OP_GETFH{}, getattr(FileAttrRequest))
	if err != nil {
		return nil, Attr{}, err
	}
	return fhAndAttr(res, 2)
}

// LookupParent finds the parent of directory dir (LOOKUPP).
func (c *Client) LookupParent(ctx context.Context, cred rpc.Cred, dir FH) (FH, Attr, error) {
	res, err := c.compound(ctx, cred, putFH(dir), &nfsv4.NfsArgop4_OP_LOOKUPP{},
		&nfsv4.NfsArgop4_OP_GETFH{}, getattr(FileAttrRequest))
	if err != nil {
		return nil, Attr{}, err
	}
	return fhAndAttr(res, 2)
}

// Getattr reads fh's attributes.
func (c *Client) Getattr(ctx context.Context, cred rpc.Cred, fh FH) (Attr, error) {
	res, err := c.compound(ctx, cred, putFH(fh), getattr(FileAttrRequest))
	if err != nil {
		return Attr{}, err
	}
	return attrAt(res, 1)
}

// Setattr changes fh's attributes and returns them as they are after the
// change. stateid must be an open or lock stateid when the size changes
// (RFC 8881 section 18.30.3), else AnonymousStateid.
func (c *Client) Setattr(ctx context.Context, cred rpc.Cred, fh FH, stateid Stateid, s SetAttr) (Attr, error) {
	res, err := c.compound(ctx, cred, putFH(fh),
		&nfsv4.NfsArgop4_OP_SETATTR{Opsetattr: nfsv4.Setattr4args{Stateid: stateid, ObjAttributes: EncodeSetAttr(s)}},
		getattr(FileAttrRequest))
	if err != nil {
		return Attr{}, err
	}
	return attrAt(res, 2)
}

// Access bits (RFC 8881 section 18.1).
const (
	AccessRead    = nfsv4.ACCESS4_READ
	AccessLookup  = nfsv4.ACCESS4_LOOKUP
	AccessModify  = nfsv4.ACCESS4_MODIFY
	AccessExtend  = nfsv4.ACCESS4_EXTEND
	AccessDelete  = nfsv4.ACCESS4_DELETE
	AccessExecute = nfsv4.ACCESS4_EXECUTE
)

// Access asks which of the access bits in mask cred has on fh. Bits the
// server could not check are treated as denied.
func (c *Client) Access(ctx context.Context, cred rpc.Cred, fh FH, mask uint32) (uint32, error) {
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_ACCESS{Opaccess: nfsv4.Access4args{Access: mask}})
	if err != nil {
		return 0, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_ACCESS](res, 1)
	if err != nil {
		return 0, err
	}
	ok, err := okArm[*nfsv4.Access4res_NFS4_OK](r.Opaccess, "ACCESS")
	if err != nil {
		return 0, err
	}
	return ok.Resok4.Access & ok.Resok4.Supported, nil
}

// Readlink returns a symbolic link's target.
func (c *Client) Readlink(ctx context.Context, cred rpc.Cred, fh FH) (string, error) {
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_READLINK{})
	if err != nil {
		return "", err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_READLINK](res, 1)
	if err != nil {
		return "", err
	}
	ok, err := okArm[*nfsv4.Readlink4res_NFS4_OK](r.Opreadlink, "READLINK")
	if err != nil {
		return "", err
	}
	return string(ok.Resok4.Link), nil
}

// FSAttr reads filesystem-level attributes (for statfs and the lease time)
// through fh, or through the root when fh is nil.
func (c *Client) FSAttr(ctx context.Context, cred rpc.Cred, fh FH) (FSAttr, error) {
	res, err := c.compound(ctx, cred, putFH(fh), getattr(FSAttrRequest))
	if err != nil {
		return FSAttr{}, err
	}
	f, err := fattrAt(res, 1)
	if err != nil {
		return FSAttr{}, err
	}
	return DecodeFSAttr(f)
}
