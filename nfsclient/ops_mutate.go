package nfsclient

import (
	"context"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// CreateKind is what CREATE makes (RFC 8881 section 18.4): regular files
// are made by OPEN instead.
type CreateKind int

const (
	CreateDir CreateKind = iota
	CreateSymlink
	CreateFIFO
	CreateSocket
)

// Create makes a directory, symlink (with target), FIFO or socket called
// name in dir with the attributes in attrs (typically the mode), and
// returns its handle and attributes.
func (c *Client) Create(ctx context.Context, cred rpc.Cred, dir FH, name string, kind CreateKind, target string, attrs SetAttr) (FH, Attr, error) {
	var t nfsv4.Createtype4
	switch kind {
	case CreateDir:
		t = &nfsv4.Createtype4_NF4DIR{}
	case CreateSymlink:
		t = &nfsv4.Createtype4_NF4LNK{Linkdata: []byte(target)}
	case CreateFIFO:
		t = &nfsv4.Createtype4_NF4FIFO{}
	case CreateSocket:
		t = &nfsv4.Createtype4_NF4SOCK{}
	}
	res, err := c.compound(ctx, cred, putFH(dir),
		&nfsv4.NfsArgop4_OP_CREATE{Opcreate: nfsv4.Create4args{Objtype: t, Objname: name, Createattrs: EncodeSetAttr(attrs)}},
		&nfsv4.NfsArgop4_OP_GETFH{}, getattr(FileAttrRequest))
	if err != nil {
		return nil, Attr{}, err
	}
	return fhAndAttr(res, 2)
}

// Remove deletes name from dir (any file type, RFC 8881 section 18.25).
func (c *Client) Remove(ctx context.Context, cred rpc.Cred, dir FH, name string) error {
	_, err := c.compound(ctx, cred, putFH(dir), &nfsv4.NfsArgop4_OP_REMOVE{Opremove: nfsv4.Remove4args{Target: name}})
	return err
}

// Rename moves srcDir/srcName to dstDir/dstName, replacing a compatible
// target (RFC 8881 section 18.26): SAVEFH marks the source directory.
func (c *Client) Rename(ctx context.Context, cred rpc.Cred, srcDir FH, srcName string, dstDir FH, dstName string) error {
	_, err := c.compound(ctx, cred, putFH(srcDir), &nfsv4.NfsArgop4_OP_SAVEFH{}, putFH(dstDir),
		&nfsv4.NfsArgop4_OP_RENAME{Oprename: nfsv4.Rename4args{Oldname: srcName, Newname: dstName}})
	return err
}

// Link makes dir/name a new hard link to fh and returns fh's attributes
// afterwards (its link count changed).
func (c *Client) Link(ctx context.Context, cred rpc.Cred, fh FH, dir FH, name string) (Attr, error) {
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_SAVEFH{}, putFH(dir),
		&nfsv4.NfsArgop4_OP_LINK{Oplink: nfsv4.Link4args{Newname: name}},
		&nfsv4.NfsArgop4_OP_RESTOREFH{}, getattr(FileAttrRequest))
	if err != nil {
		return Attr{}, err
	}
	return attrAt(res, 5)
}
