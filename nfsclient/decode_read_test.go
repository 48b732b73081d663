package nfsclient

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

func encodeResult(op nfsv4.NfsResop4) []byte {
	var b bytes.Buffer
	_, _ = op.WriteTo(&b)
	return b.Bytes()
}

func readOKResult(eof bool, data []byte) nfsv4.NfsResop4 {
	return &nfsv4.NfsResop4_OP_READ{Opread: &nfsv4.Read4res_NFS4_OK{Resok4: nfsv4.Read4resok{Eof: eof, Data: data}}}
}

// TestReadResultAliasesRecord checks the hand-decoded READ against go-xdr
// and that its data is the record's bytes, not a copy.
func TestReadResultAliasesRecord(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5, 4096, 1 << 20} {
		data := bytes.Repeat([]byte{0xa5}, n)
		body := append(encodeResult(readOKResult(n%2 == 0, data)), 0, 0, 0, 7) // and a trailing word
		r := bytes.NewReader(body)
		got, err := readResult(r, body)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		want, _, _ := nfsv4.ReadNfsResop4(bytes.NewReader(body))
		if !sameResult(got, want) {
			t.Fatalf("%d bytes: decoded %+v, go-xdr %+v", n, got, want)
		}
		if r.Len() != 4 {
			t.Fatalf("%d bytes: %d left unread, want the 4 trailing", n, r.Len())
		}
		d := got.(*nfsv4.NfsResop4_OP_READ).Opread.(*nfsv4.Read4res_NFS4_OK).Resok4.Data
		if n > 0 && &d[0] != &body[16] {
			t.Fatalf("%d bytes: data was copied", n)
		}
		if cap(d) != n {
			t.Fatalf("%d bytes: data capacity %d reaches into the record", n, cap(d))
		}
	}
	// Truncated data and a non-boolean eof are errors.
	body := encodeResult(readOKResult(true, make([]byte, 100)))
	if _, err := readResult(bytes.NewReader(body[:60]), body[:60]); err == nil {
		t.Fatal("truncated READ data accepted")
	}
	body[11] = 2
	if _, err := readResult(bytes.NewReader(body), body); err == nil {
		t.Fatal("eof = 2 accepted")
	}
}

// FuzzReadResult: whatever go-xdr decodes as a result, the fast path
// decodes to the same value and length.
func FuzzReadResult(f *testing.F) {
	f.Add(encodeResult(readOKResult(true, []byte("data"))))
	f.Add(encodeResult(readOKResult(false, []byte("odd"))))
	f.Add(encodeResult(&nfsv4.NfsResop4_OP_READ{Opread: &nfsv4.Read4res_default{Status: nfsv4.NFS4ERR_IO}}))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := bytes.NewReader(body)
		got, err := readResult(r, body)
		wr := bytes.NewReader(body)
		want, _, werr := nfsv4.ReadNfsResop4(wr)
		if werr != nil {
			return // ours may accept what go-xdr refuses (non-zero padding), never the reverse
		}
		if err != nil {
			t.Fatalf("go-xdr decoded %+v, fast path failed: %v", want, err)
		}
		if !sameResult(got, want) || r.Len() != wr.Len() {
			t.Fatalf("fast path %+v (%d left), go-xdr %+v (%d left)", got, r.Len(), want, wr.Len())
		}
	})
}

// sameResult is reflect.DeepEqual except that an empty READ's data may be
// nil on one side (go-xdr) and empty on the other.
func sameResult(a, b nfsv4.NfsResop4) bool {
	ra, okA := a.(*nfsv4.NfsResop4_OP_READ)
	rb, okB := b.(*nfsv4.NfsResop4_OP_READ)
	if okA && okB {
		oa, okA := ra.Opread.(*nfsv4.Read4res_NFS4_OK)
		ob, okB := rb.Opread.(*nfsv4.Read4res_NFS4_OK)
		if okA && okB {
			return oa.Resok4.Eof == ob.Resok4.Eof && bytes.Equal(oa.Resok4.Data, ob.Resok4.Data)
		}
	}
	return reflect.DeepEqual(a, b)
}
