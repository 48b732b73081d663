package nfsclient

import (
	"context"
	"fmt"
	"sync"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Read reads up to len(buf) bytes (at most MaxRead) of fh at off into buf.
func (c *Client) Read(ctx context.Context, cred rpc.Cred, fh FH, stateid Stateid, off uint64, buf []byte) (n int, eof bool, err error) {
	data, eof, release, err := c.ReadData(ctx, cred, fh, stateid, off, len(buf))
	n = copy(buf, data)
	release()
	return n, eof, err
}

// ReadData reads up to count bytes (at most MaxRead) of fh at off and
// returns them without a copy: data is part of the reply as received, in
// a pooled buffer. The caller must call release (never nil) once done
// with data, and not touch data afterwards. A prefetch keeps the data this
// way rather than copying 1 MiB into a buffer of its own.
func (c *Client) ReadData(ctx context.Context, cred rpc.Cred, fh FH, stateid Stateid, off uint64, count int) (data []byte, eof bool, release func(), err error) {
	n := uint32(min(count, int(c.maxRead)))
	r := c.compoundRec(ctx, cred, []nfsv4.NfsArgop4{putFH(fh), &nfsv4.NfsArgop4_OP_READ{Opread: nfsv4.Read4args{
		Stateid: stateid, Offset: off, Count: n,
	}}})
	release = func() {}
	if r.rec != nil {
		release = sync.OnceFunc(func() { rpc.ReleaseRecord(r.rec) })
	}
	data, eof, err = readData(r, n)
	if err != nil {
		release()
		return nil, false, func() {}, err
	}
	return data, eof, release, nil
}

func readData(r callResult, n uint32) ([]byte, bool, error) {
	if r.err != nil {
		return nil, false, r.err
	}
	res, err := resultAt[*nfsv4.NfsResop4_OP_READ](r.res, 1)
	if err != nil {
		return nil, false, err
	}
	ok, err := okArm[*nfsv4.Read4res_NFS4_OK](res.Opread, "READ")
	if err != nil {
		return nil, false, err
	}
	if len(ok.Resok4.Data) > int(n) {
		return nil, false, fmt.Errorf("%w: READ returned %d bytes for %d asked", rpc.ErrGarbledReply, len(ok.Resok4.Data), n)
	}
	return ok.Resok4.Data, ok.Resok4.Eof, nil
}

// Stability of a WRITE (RFC 8881 section 18.32).
type Stability = nfsv4.StableHow4

const (
	Unstable = nfsv4.UNSTABLE4
	DataSync = nfsv4.DATA_SYNC4
	FileSync = nfsv4.FILE_SYNC4
)

// WriteResult is what the server did with a WRITE.
type WriteResult struct {
	Count     uint32
	Committed Stability
	// Verifier changes when the server restarts; data written UNSTABLE
	// under an older verifier must be written again (section 18.32.3).
	Verifier [8]byte
}

// Write writes data (at most MaxWrite bytes) to fh at off.
func (c *Client) Write(ctx context.Context, cred rpc.Cred, fh FH, stateid Stateid, off uint64, data []byte, stable Stability) (WriteResult, error) {
	if len(data) > int(c.maxWrite) {
		return WriteResult{}, fmt.Errorf("nfsclient: WRITE of %d bytes exceeds the session's %d", len(data), c.maxWrite)
	}
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_WRITE{Opwrite: nfsv4.Write4args{
		Stateid: stateid, Offset: off, Stable: stable, Data: data,
	}})
	if err != nil {
		return WriteResult{}, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_WRITE](res, 1)
	if err != nil {
		return WriteResult{}, err
	}
	ok, err := okArm[*nfsv4.Write4res_NFS4_OK](r.Opwrite, "WRITE")
	if err != nil {
		return WriteResult{}, err
	}
	w := ok.Resok4
	if w.Count > uint32(len(data)) {
		return WriteResult{}, fmt.Errorf("%w: WRITE wrote %d bytes of %d", rpc.ErrGarbledReply, w.Count, len(data))
	}
	return WriteResult{Count: w.Count, Committed: w.Committed, Verifier: w.Writeverf}, nil
}

// Commit makes UNSTABLE writes in [off, off+count) durable (count 0 = to
// the end of the file) and returns the write verifier. The caller compares
// it with the verifiers of its UNSTABLE WRITEs: a difference means the
// server lost them and they must be sent again.
func (c *Client) Commit(ctx context.Context, cred rpc.Cred, fh FH, off uint64, count uint32) ([8]byte, error) {
	res, err := c.compound(ctx, cred, putFH(fh), &nfsv4.NfsArgop4_OP_COMMIT{Opcommit: nfsv4.Commit4args{Offset: off, Count: count}})
	if err != nil {
		return [8]byte{}, err
	}
	r, err := resultAt[*nfsv4.NfsResop4_OP_COMMIT](res, 1)
	if err != nil {
		return [8]byte{}, err
	}
	ok, err := okArm[*nfsv4.Commit4res_NFS4_OK](r.Opcommit, "COMMIT")
	if err != nil {
		return [8]byte{}, err
	}
	return ok.Resok4.Writeverf, nil
}
