package nfsclient

import (
	"bytes"
	"testing"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

// encodeCompoundRes builds a server-side COMPOUND4res for fuzz seeds.
func encodeCompoundRes(status nfsv4.Nfsstat4, ops ...nfsv4.NfsResop4) []byte {
	var b bytes.Buffer
	res := nfsv4.Compound4res{Status: status, Resarray: ops}
	_, _ = res.WriteTo(&b)
	return b.Bytes()
}

func seqOK() nfsv4.NfsResop4 {
	return &nfsv4.NfsResop4_OP_SEQUENCE{Opsequence: &nfsv4.Sequence4res_NFS4_OK{SrResok4: nfsv4.Sequence4resok{SrSequenceid: 1, SrHighestSlotid: 3, SrTargetHighestSlotid: 3}}}
}

func TestDecodeCompound(t *testing.T) {
	body := encodeCompoundRes(nfsv4.NFS4_OK, seqOK(), &nfsv4.NfsResop4_OP_PUTROOTFH{Opputrootfh: nfsv4.Putrootfh4res{Status: nfsv4.NFS4_OK}})
	status, res, seqDone, err := decodeCompound(body)
	if err != nil || status != nfsv4.NFS4_OK || !seqDone || len(res) != 2 {
		t.Fatalf("decode = %v %d %v %v", status, len(res), seqDone, err)
	}
	// A reply cut anywhere is an error, never a panic; a cut after the
	// SEQUENCE result still reports that SEQUENCE succeeded, which is what
	// the slot table needs.
	seqEnd := len(encodeCompoundRes(nfsv4.NFS4_OK, seqOK())) - 4
	for cut := 0; cut < len(body); cut++ {
		_, _, done, err := decodeCompound(body[:cut])
		if err == nil {
			t.Fatalf("reply cut at %d of %d decoded without error", cut, len(body))
		}
		if cut > seqEnd+4 && !done {
			t.Fatalf("reply cut at %d after the SEQUENCE result lost seqDone", cut)
		}
	}
	// A first result other than SEQUENCE is refused.
	if _, _, _, err := decodeCompound(encodeCompoundRes(nfsv4.NFS4_OK, &nfsv4.NfsResop4_OP_PUTROOTFH{})); err == nil {
		t.Fatal("COMPOUND without SEQUENCE accepted")
	}
	// A result count the body cannot hold is refused before allocating.
	if _, _, _, err := decodeCompound([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}); err == nil {
		t.Fatal("absurd result count accepted")
	}
}

func FuzzDecodeCompound(f *testing.F) {
	f.Add(encodeCompoundRes(nfsv4.NFS4_OK, seqOK()))
	f.Add(encodeCompoundRes(nfsv4.NFS4ERR_NOENT, seqOK(), &nfsv4.NfsResop4_OP_PUTROOTFH{}, &nfsv4.NfsResop4_OP_LOOKUP{Oplookup: nfsv4.Lookup4res{Status: nfsv4.NFS4ERR_NOENT}}))
	f.Add(encodeCompoundRes(nfsv4.NFS4_OK, seqOK(), &nfsv4.NfsResop4_OP_READ{Opread: &nfsv4.Read4res_NFS4_OK{Resok4: nfsv4.Read4resok{Eof: true, Data: []byte("data")}}}))
	f.Add(encodeCompoundRes(nfsv4.NFS4_OK, seqOK(), &nfsv4.NfsResop4_OP_GETATTR{Opgetattr: &nfsv4.Getattr4res_NFS4_OK{Resok4: nfsv4.Getattr4resok{ObjAttributes: nfsv4.Fattr4{Attrmask: FileAttrRequest, AttrVals: make([]byte, 64)}}}}))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, res, seqDone, _ := decodeCompound(body)
		if seqDone {
			if _, ok := res[0].(*nfsv4.NfsResop4_OP_SEQUENCE); !ok {
				t.Fatal("seqDone without a SEQUENCE first")
			}
		}
		// The typed accessors used by every op must not panic either.
		for i := range res {
			if a, err := attrAt(res, i); err == nil {
				_ = a
			}
			_, _ = fhAt(res, i)
		}
	})
}
