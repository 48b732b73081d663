package nfsclient

import (
	"context"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// DirEntry is one READDIR entry with its attributes (readdirplus).
type DirEntry struct {
	Name   string
	Cookie uint64
	Attr   Attr
}

// DirPage is one READDIR reply. Continue with the last entry's cookie and
// Verifier until EOF (RFC 8881 section 18.23).
type DirPage struct {
	Entries  []DirEntry
	Verifier [8]byte
	EOF      bool
}

// readdirMaxCount bounds one READDIR reply. Large pages mean few round
// trips for big directories; 256 KiB holds roughly 2,000 entries with
// attributes, well under the session's max response.
const readdirMaxCount = 256 << 10

// ReadDir reads one page of directory dir starting after cookie (0 for the
// start, with a zero verifier).
func (c *Client) ReadDir(ctx context.Context, cred rpc.Cred, dir FH, cookie uint64, verf [8]byte) (DirPage, error) {
	maxCount := min(uint32(readdirMaxCount), c.maxRead)
	res, err := c.compound(ctx, cred, putFH(dir), &nfsv4.NfsArgop4_OP_READDIR{Opreaddir: nfsv4.Readdir4args{
		Cookie:      cookie,
		Cookieverf:  verf,
		Dircount:    maxCount,
		Maxcount:    maxCount,
		AttrRequest: DirAttrRequest,
	}})
	if err != nil {
		return DirPage{}, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_READDIR](res, 1)
	if err != nil {
		return DirPage{}, err
	}
	ok, err := okArm[*nfsv4.Readdir4res_NFS4_OK](r.Opreaddir, "READDIR")
	if err != nil {
		return DirPage{}, err
	}
	page := DirPage{Verifier: ok.Resok4.Cookieverf, EOF: ok.Resok4.Reply.Eof}
	for e := ok.Resok4.Reply.Entries; e != nil; e = e.Nextentry {
		a, err := DecodeAttr(&e.Attrs)
		if err != nil {
			return DirPage{}, err
		}
		page.Entries = append(page.Entries, DirEntry{Name: e.Name, Cookie: e.Cookie, Attr: a})
	}
	return page, nil
}

// ReadDirAll lists a whole directory, following cookies across pages
// (see readPages for what a server must not do).
func (c *Client) ReadDirAll(ctx context.Context, cred rpc.Cred, dir FH) ([]DirEntry, error) {
	return readPages(func(cookie uint64, verf [8]byte) (DirPage, error) {
		return c.ReadDir(ctx, cred, dir, cookie, verf)
	}, defaultDirLimits)
}
