package nfsclient

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

// readResult decodes the next result of a COMPOUND reply from r, which
// reads body. A successful READ result is decoded by hand so that its data
// is a slice of body rather than a copy: go-xdr reads an opaque through a
// growing bytes.Buffer, which for a 1 MiB READ allocated 4 MiB and copied
// the data three times (BenchmarkDecodeReadReply). Every other result, and
// a READ that failed, goes through go-xdr.
func readResult(r *bytes.Reader, body []byte) (nfsv4.NfsResop4, error) {
	pos := len(body) - r.Len()
	if rest := body[pos:]; len(rest) >= 16 &&
		binary.BigEndian.Uint32(rest) == uint32(nfsv4.OP_READ) &&
		binary.BigEndian.Uint32(rest[4:]) == uint32(nfsv4.NFS4_OK) {
		return readOK(r, rest)
	}
	op, _, err := nfsv4.ReadNfsResop4(r)
	return op, err
}

// readOK decodes a READ4res with status NFS4_OK at the start of rest:
// resop, status, eof (bool), data length, data, padding to 4 bytes.
func readOK(r *bytes.Reader, rest []byte) (nfsv4.NfsResop4, error) {
	eof := binary.BigEndian.Uint32(rest[8:])
	if eof > 1 {
		return nil, fmt.Errorf("READ eof is %d, not a boolean", eof)
	}
	n := uint64(binary.BigEndian.Uint32(rest[12:]))
	padded := (n + 3) &^ 3
	if 16+padded > uint64(len(rest)) {
		return nil, fmt.Errorf("READ data of %d bytes, %d left in the reply", n, len(rest)-16)
	}
	// Capacity capped: nobody may append into the rest of the record.
	data := rest[16 : 16+n : 16+n]
	if _, err := r.Seek(int64(16+padded), io.SeekCurrent); err != nil {
		return nil, err
	}
	return &nfsv4.NfsResop4_OP_READ{Opread: &nfsv4.Read4res_NFS4_OK{
		Resok4: nfsv4.Read4resok{Eof: eof == 1, Data: data},
	}}, nil
}

// holdsReadData reports whether res has a READ result whose data is a
// slice of the reply record (see readOK).
func holdsReadData(res []nfsv4.NfsResop4) bool {
	for _, op := range res {
		if r, ok := op.(*nfsv4.NfsResop4_OP_READ); ok {
			if ok, _ := r.Opread.(*nfsv4.Read4res_NFS4_OK); ok != nil && len(ok.Resok4.Data) > 0 {
				return true
			}
		}
	}
	return false
}
