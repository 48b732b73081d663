package nfsclient

import (
	"sync/atomic"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

// opCounts counts the COMPOUNDs sent by their main operation: what
// `efs-fuse status` can show, and what tests use to hold the FUSE layer to
// a number of round trips per system call. Indexed by operation number
// (all NFSv4.1 operations are below 64); lock-free.
type opCounts [64]atomic.Int64

// ancillary operations set up or carry the main one and are not counted.
func ancillary(op nfsv4.NfsOpnum4) bool {
	switch op {
	case nfsv4.OP_PUTFH, nfsv4.OP_PUTROOTFH, nfsv4.OP_SAVEFH, nfsv4.OP_RESTOREFH, nfsv4.OP_GETFH:
		return true
	}
	return false
}

// count records one COMPOUND of ops.
func (o *opCounts) count(ops []nfsv4.NfsArgop4) {
	for _, op := range ops {
		if n := op.GetArgop(); !ancillary(n) {
			if int(n) < len(o) {
				o[n].Add(1)
			}
			return
		}
	}
}

// OpCounts returns how many COMPOUNDs were sent, by main operation name
// (LOOKUP, OPEN, READ, ...; the first that is not PUTFH, SAVEFH or such),
// since the client was dialled. Resends after a reconnect count once.
func (c *Client) OpCounts() map[string]int64 {
	out := map[string]int64{}
	for i := range c.ops {
		if v := c.ops[i].Load(); v > 0 {
			out[opName(nfsv4.NfsOpnum4(i))] = v
		}
	}
	return out
}
