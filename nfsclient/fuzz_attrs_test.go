package nfsclient

import (
	"reflect"
	"testing"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

// fuzzSeeds are well-formed replies from the test encoder; the corpus in
// testdata/fuzz/FuzzDecodeAttr holds more.
func fuzzSeeds(t testing.TB) []nfsv4.Fattr4 {
	a, fs := sampleAttr(), sampleFSAttr()
	both := a.Mask
	for i := range both {
		both[i] |= fs.Mask[i]
	}
	return []nfsv4.Fattr4{
		encodeFattr(t, a.Mask, a, FSAttr{}),
		encodeFattr(t, fs.Mask, Attr{}, fs),
		encodeFattr(t, both, a, fs),
		EncodeSetAttr(SetAttr{}),
		{Attrmask: []uint32{1 << 4, 1 << 1}, AttrVals: []byte{0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 1, 0xa4}},
	}
}

// FuzzDecodeAttr feeds arbitrary bitmaps and values to both decoders: they
// must never panic, and whatever they accept must survive a re-encode and
// decode unchanged.
func FuzzDecodeAttr(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		var w [4]uint32
		copy(w[:], s.Attrmask)
		f.Add(w[0], w[1], w[2], w[3], s.AttrVals)
	}
	f.Fuzz(func(t *testing.T, w0, w1, w2, w3 uint32, vals []byte) {
		in := nfsv4.Fattr4{Attrmask: []uint32{w0, w1, w2, w3}, AttrVals: vals}
		a, errA := DecodeAttr(&in)
		fs, errFS := DecodeFSAttr(&in)
		if (errA == nil) != (errFS == nil) {
			t.Fatalf("DecodeAttr err %v, DecodeFSAttr err %v", errA, errFS)
		}
		if errA != nil {
			return
		}
		if a.Mask != (AttrMask{w0, w1, w2}) || w3 != 0 || fs.Mask != a.Mask {
			t.Fatalf("mask %#x / %#x from %#x", a.Mask, fs.Mask, in.Attrmask)
		}
		again := encodeFattr(t, a.Mask, a, fs)
		a2, err := DecodeAttr(&again)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		fs2, err := DecodeFSAttr(&again)
		if err != nil {
			t.Fatalf("re-decode FSAttr: %v", err)
		}
		if !reflect.DeepEqual(a, a2) || !reflect.DeepEqual(fs, fs2) {
			t.Fatalf("not stable:\n%+v\n%+v\n%+v\n%+v", a, a2, fs, fs2)
		}
	})
}
