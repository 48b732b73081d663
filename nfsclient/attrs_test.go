package nfsclient

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

// encodeFattr is a test-only server side: it encodes the attributes in mask
// from a and fs, in ascending order, the way a server builds a reply.
// Owners are written as decimal ids.
func encodeFattr(t testing.TB, mask AttrMask, a Attr, fs FSAttr) nfsv4.Fattr4 {
	var w writer
	for attr := 0; attr < 32*len(mask); attr++ {
		if !mask.Has(attr) {
			continue
		}
		switch attr {
		case nfsv4.FATTR4_SUPPORTED_ATTRS:
			b := fs.SupportedAttrs.Bitmap()
			w.uint32(uint32(len(b)))
			for _, x := range b {
				w.uint32(x)
			}
		case nfsv4.FATTR4_TYPE:
			w.uint32(uint32(a.Type))
		case nfsv4.FATTR4_CHANGE:
			w.uint64(a.Change)
		case nfsv4.FATTR4_SIZE:
			w.uint64(a.Size)
		case nfsv4.FATTR4_FSID:
			w.uint64(a.FSID.Major)
			w.uint64(a.FSID.Minor)
		case nfsv4.FATTR4_LEASE_TIME:
			w.uint32(fs.LeaseTime)
		case nfsv4.FATTR4_FILEHANDLE:
			w.opaque(a.FH)
		case nfsv4.FATTR4_FILEID:
			w.uint64(a.FileID)
		case nfsv4.FATTR4_FILES_AVAIL:
			w.uint64(fs.FilesAvail)
		case nfsv4.FATTR4_FILES_FREE:
			w.uint64(fs.FilesFree)
		case nfsv4.FATTR4_FILES_TOTAL:
			w.uint64(fs.FilesTotal)
		case nfsv4.FATTR4_MAXNAME:
			w.uint32(fs.MaxName)
		case nfsv4.FATTR4_MAXREAD:
			w.uint64(fs.MaxRead)
		case nfsv4.FATTR4_MAXWRITE:
			w.uint64(fs.MaxWrite)
		case nfsv4.FATTR4_MODE:
			w.uint32(a.Mode)
		case nfsv4.FATTR4_NUMLINKS:
			w.uint32(a.NumLinks)
		case nfsv4.FATTR4_OWNER:
			w.opaque([]byte(itoa(a.UID)))
		case nfsv4.FATTR4_OWNER_GROUP:
			w.opaque([]byte(itoa(a.GID)))
		case nfsv4.FATTR4_RAWDEV:
			w.uint32(a.RawDev.Major)
			w.uint32(a.RawDev.Minor)
		case nfsv4.FATTR4_SPACE_AVAIL:
			w.uint64(fs.SpaceAvail)
		case nfsv4.FATTR4_SPACE_FREE:
			w.uint64(fs.SpaceFree)
		case nfsv4.FATTR4_SPACE_TOTAL:
			w.uint64(fs.SpaceTotal)
		case nfsv4.FATTR4_SPACE_USED:
			w.uint64(a.SpaceUsed)
		case nfsv4.FATTR4_TIME_ACCESS:
			w.time(a.Atime)
		case nfsv4.FATTR4_TIME_METADATA:
			w.time(a.Ctime)
		case nfsv4.FATTR4_TIME_MODIFY:
			w.time(a.Mtime)
		default:
			t.Fatalf("test encoder does not know attribute %d", attr)
		}
	}
	return nfsv4.Fattr4{Attrmask: mask.Bitmap(), AttrVals: w}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// sampleAttr has every Attr field set to a distinct value.
func sampleAttr() Attr {
	a := Attr{
		Type:      TypeReg,
		Change:    0x0102030405060708,
		Size:      1 << 40,
		FSID:      FSID{Major: 7, Minor: 9},
		FH:        FH("handle-of-17-byte"),
		FileID:    123456789,
		Mode:      0o4755,
		NumLinks:  3,
		UID:       1000,
		GID:       4294967294,
		RawDev:    Specdata{Major: 8, Minor: 1},
		SpaceUsed: 8192,
		Atime:     time.Unix(1700000000, 1),
		Ctime:     time.Unix(-5, 999999999),
		Mtime:     time.Unix(1<<40, 500),
	}
	a.Mask = fileAttrs
	a.Mask.Set(nfsv4.FATTR4_FILEHANDLE)
	return a
}

func sampleFSAttr() FSAttr {
	return FSAttr{
		Mask:           maskOf(0, 10, 21, 22, 23, 29, 30, 31, 42, 43, 44),
		SupportedAttrs: maskOf(0, 1, 4, 33, 75, 80),
		LeaseTime:      90,
		FilesAvail:     1,
		FilesFree:      2,
		FilesTotal:     3,
		MaxName:        255,
		MaxRead:        1 << 20,
		MaxWrite:       1 << 21,
		SpaceAvail:     1 << 50,
		SpaceFree:      1<<50 + 1,
		SpaceTotal:     1 << 53,
	}
}

func TestDecodeAttrRoundTrip(t *testing.T) {
	want := sampleAttr()
	f := encodeFattr(t, want.Mask, want, FSAttr{})
	if len(f.Attrmask) != 2 {
		t.Fatalf("bitmap has %d words, want 2", len(f.Attrmask))
	}
	got, err := DecodeAttr(&f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeAttr =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecodeFSAttrRoundTrip(t *testing.T) {
	want := sampleFSAttr()
	f := encodeFattr(t, want.Mask, Attr{}, want)
	got, err := DecodeFSAttr(&f)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeFSAttr =\n%+v\nwant\n%+v", got, want)
	}
}

func TestRequestBitmaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  nfsv4.Bitmap4
		want []int
	}{
		{"FileAttrRequest", FileAttrRequest, []int{1, 3, 4, 8, 20, 33, 35, 36, 37, 41, 45, 47, 52, 53}},
		{"DirAttrRequest", DirAttrRequest, []int{1, 3, 4, 8, 19, 20, 33, 35, 36, 37, 41, 45, 47, 52, 53}},
		{"FSAttrRequest", FSAttrRequest, []int{0, 10, 21, 22, 23, 29, 30, 31, 42, 43, 44}},
	} {
		if want := maskOf(tc.want...).Bitmap(); !reflect.DeepEqual(tc.got, want) {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, want)
		}
	}
}

func TestDecodeAttrBitmapWords(t *testing.T) {
	// Size in word 0, mode in word 1, and an explicit zero third word.
	var w writer
	w.uint64(42)
	w.uint32(0o644)
	f := nfsv4.Fattr4{Attrmask: []uint32{1 << 4, 1 << 1, 0}, AttrVals: w}
	a, err := DecodeAttr(&f)
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != 42 || a.Mode != 0o644 || a.Mask != maskOf(4, 33) {
		t.Fatalf("got %+v", a)
	}
	// An empty fattr4 is valid.
	if a, err := DecodeAttr(&nfsv4.Fattr4{}); err != nil || a.Mask != (AttrMask{}) {
		t.Fatalf("empty: %+v, %v", a, err)
	}
}

func TestDecodeAttrUnknown(t *testing.T) {
	for _, tc := range []struct {
		mask []uint32
		want string
	}{
		{[]uint32{1 << 2}, "unknown attribute 2"},                  // fh_expire_type
		{[]uint32{1 << 4, 1 << (48 - 32)}, "unknown attribute 48"}, // time_access_set after size
		{[]uint32{0, 0, 1 << (75 - 64)}, "unknown attribute 75"},   // word 2
		{[]uint32{0, 0, 0, 1 << 3}, "unknown attribute 99"},        // beyond AttrMask
		{[]uint32{0, 0, 0, 0, 0, 0, 0, 1 << 31}, "unknown attribute 255"},
	} {
		f := nfsv4.Fattr4{Attrmask: tc.mask, AttrVals: make([]byte, 64)}
		_, err := DecodeAttr(&f)
		if err == nil || !errors.Is(err, ErrBadAttrs) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("mask %#x: err %v, want %q", tc.mask, err, tc.want)
		}
	}
}

func TestDecodeAttrTruncated(t *testing.T) {
	a := sampleAttr()
	f := encodeFattr(t, a.Mask, a, FSAttr{})
	for i := range len(f.AttrVals) {
		short := nfsv4.Fattr4{Attrmask: f.Attrmask, AttrVals: f.AttrVals[:i]}
		if _, err := DecodeAttr(&short); !errors.Is(err, ErrBadAttrs) {
			t.Fatalf("truncated to %d of %d bytes: err %v", i, len(f.AttrVals), err)
		}
	}
	fs := sampleFSAttr()
	g := encodeFattr(t, fs.Mask, Attr{}, fs)
	for i := range len(g.AttrVals) {
		short := nfsv4.Fattr4{Attrmask: g.Attrmask, AttrVals: g.AttrVals[:i]}
		if _, err := DecodeFSAttr(&short); !errors.Is(err, ErrBadAttrs) {
			t.Fatalf("FSAttr truncated to %d of %d bytes: err %v", i, len(g.AttrVals), err)
		}
	}
}

func TestDecodeAttrTrailing(t *testing.T) {
	a := sampleAttr()
	f := encodeFattr(t, a.Mask, a, FSAttr{})
	f.AttrVals = append(f.AttrVals, 0, 0, 0, 0)
	if _, err := DecodeAttr(&f); err == nil || !strings.Contains(err.Error(), "4 bytes after") {
		t.Fatalf("err %v", err)
	}
}

func TestDecodeAttrBadValues(t *testing.T) {
	build := func(attr int, vals ...func(*writer)) nfsv4.Fattr4 {
		var w writer
		for _, v := range vals {
			v(&w)
		}
		return nfsv4.Fattr4{Attrmask: maskOf(attr).Bitmap(), AttrVals: w}
	}
	u32 := func(v uint32) func(*writer) { return func(w *writer) { w.uint32(v) } }
	u64 := func(v uint64) func(*writer) { return func(w *writer) { w.uint64(v) } }
	raw := func(b ...byte) func(*writer) { return func(w *writer) { *w = append(*w, b...) } }
	for name, f := range map[string]nfsv4.Fattr4{
		"nseconds 1e9":       build(nfsv4.FATTR4_TIME_MODIFY, u64(1), u32(1e9)),
		"nseconds max":       build(nfsv4.FATTR4_TIME_ACCESS, u64(1), u32(0xffffffff)),
		"owner past data":    build(nfsv4.FATTR4_OWNER, u32(5), raw('1', '2', '3', '4')),
		"owner huge length":  build(nfsv4.FATTR4_OWNER, u32(0xffffffff)),
		"owner bad padding":  build(nfsv4.FATTR4_OWNER, u32(1), raw('1', 0, 1, 0)),
		"filehandle too big": build(nfsv4.FATTR4_FILEHANDLE, u32(129), raw(make([]byte, 132)...)),
		"bitmap huge count":  build(nfsv4.FATTR4_SUPPORTED_ATTRS, u32(0x40000000), u32(1)),
	} {
		if _, err := DecodeAttr(&f); !errors.Is(err, ErrBadAttrs) {
			t.Errorf("%s: err %v", name, err)
		}
	}
	// A time at the edge is fine.
	f := build(nfsv4.FATTR4_TIME_MODIFY, u64(1), u32(999999999))
	if a, err := DecodeAttr(&f); err != nil || !a.Mtime.Equal(time.Unix(1, 999999999)) {
		t.Errorf("nseconds 999999999: %v, %v", a.Mtime, err)
	}
	// Mode keeps permission bits only.
	f = build(nfsv4.FATTR4_MODE, u32(0o170755))
	if a, err := DecodeAttr(&f); err != nil || a.Mode != 0o0755 {
		t.Errorf("mode: %o, %v", a.Mode, err)
	}
	// Long supported_attrs: words beyond the mask are dropped.
	f = build(nfsv4.FATTR4_SUPPORTED_ATTRS, u32(5), u32(1), u32(2), u32(3), u32(4), u32(5))
	if fs, err := DecodeFSAttr(&f); err != nil || fs.SupportedAttrs != (AttrMask{1, 2, 3}) {
		t.Errorf("supported_attrs: %v, %v", fs.SupportedAttrs, err)
	}
}

func TestDecodeAttrOwnerNames(t *testing.T) {
	for owner, want := range map[string]uint32{
		"0":                0,
		"1000":             1000,
		"4294967295":       4294967295,
		"4294967296":       nobodyID,
		"root@example.com": nobodyID,
		"nobody":           nobodyID,
		"":                 nobodyID,
		"-1":               nobodyID,
		"+5":               nobodyID,
		"12 ":              nobodyID,
		"\xff\xfe":         nobodyID,
	} {
		// numlinks (35), owner (36), owner_group (37), in that order.
		var w writer
		w.uint32(1)
		w.opaque([]byte(owner))
		w.opaque([]byte(owner))
		f := nfsv4.Fattr4{Attrmask: maskOf(35, 36, 37).Bitmap(), AttrVals: w}
		a, err := DecodeAttr(&f)
		if err != nil || a.UID != want || a.GID != want || a.NumLinks != 1 {
			t.Errorf("owner %q: uid %d gid %d links %d, %v; want %d", owner, a.UID, a.GID, a.NumLinks, err, want)
		}
	}
}

func TestEncodeSetAttr(t *testing.T) {
	u32 := func(v uint32) *uint32 { return &v }
	size := uint64(1 << 33)
	mtime := time.Unix(1600000000, 123)

	// Without times, DecodeAttr reads SETATTR's encoding back.
	s := SetAttr{Mode: u32(0o100640), UID: u32(1000), GID: u32(0), Size: &size}
	f := EncodeSetAttr(s)
	a, err := DecodeAttr(&f)
	if err != nil {
		t.Fatal(err)
	}
	if a.Mask != maskOf(4, 33, 36, 37) || a.Size != size || a.Mode != 0o640 || a.UID != 1000 || a.GID != 0 {
		t.Fatalf("round trip: %+v", a)
	}
	want := encodeFattr(t, a.Mask, Attr{Size: size, Mode: 0o640, UID: 1000, GID: 0}, FSAttr{})
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("EncodeSetAttr = %x, want %x", f, want)
	}

	// Times: time_access_set (48) before time_modify_set (54).
	f = EncodeSetAttr(SetAttr{Size: &size, Atime: &SetTime{Now: true}, Mtime: &SetTime{Time: mtime}})
	var w writer
	w.uint64(size)
	w.uint32(0) // SET_TO_SERVER_TIME4
	w.uint32(1) // SET_TO_CLIENT_TIME4
	w.time(mtime)
	if !reflect.DeepEqual(f.Attrmask, maskOf(4, 48, 54).Bitmap()) || !bytes.Equal(f.AttrVals, w) {
		t.Fatalf("times: mask %#x vals %x, want %x", f.Attrmask, f.AttrVals, []byte(w))
	}

	// Bitmap words as needed.
	for _, tc := range []struct {
		s     SetAttr
		words int
	}{
		{SetAttr{}, 0},
		{SetAttr{Size: &size}, 1},
		{SetAttr{Mode: u32(0o600)}, 2},
		{SetAttr{Mtime: &SetTime{Now: true}}, 2},
	} {
		if f := EncodeSetAttr(tc.s); len(f.Attrmask) != tc.words {
			t.Errorf("%+v: %d bitmap words, want %d", tc.s, len(f.Attrmask), tc.words)
		}
	}
}
