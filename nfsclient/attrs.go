package nfsclient

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"time"

	"github.com/buildbarn/go-xdr/pkg/protocols/nfsv4"
)

// go-xdr leaves fattr4 raw (a bitmap plus opaque attribute values, RFC 8881
// section 3.3.17): this file is the codec for the attributes efs-fuse uses.
// The values are the XDR encodings of the attributes whose bits are set,
// concatenated in ascending attribute-number order with no lengths between
// them, so a decoder must know every attribute's shape to find the next.

// AttrMask is a set of attribute numbers (FATTR4_*), laid out like bitmap4:
// attribute n is bit n%32 of word n/32. Three words cover every attribute
// RFC 8881 and RFC 7862 define (the highest is 80).
type AttrMask [3]uint32

// Has reports whether attribute attr is in the set.
func (m AttrMask) Has(attr int) bool {
	return attr >= 0 && attr < 32*len(m) && m[attr/32]&(1<<(attr%32)) != 0
}

// Set adds attribute attr to the set; attributes beyond the mask are ignored.
func (m *AttrMask) Set(attr int) {
	if attr >= 0 && attr < 32*len(m) {
		m[attr/32] |= 1 << (attr % 32)
	}
}

// Bitmap returns the set as a bitmap4 with trailing zero words dropped.
func (m AttrMask) Bitmap() nfsv4.Bitmap4 {
	n := len(m)
	for n > 0 && m[n-1] == 0 {
		n--
	}
	return append(nfsv4.Bitmap4{}, m[:n]...)
}

func maskOf(attrs ...int) AttrMask {
	var m AttrMask
	for _, a := range attrs {
		m.Set(a)
	}
	return m
}

// File types (nfs_ftype4, RFC 8881 section 3.3.3 / 5.8.1.2).
const (
	TypeReg       = nfsv4.NF4REG
	TypeDir       = nfsv4.NF4DIR
	TypeBlk       = nfsv4.NF4BLK
	TypeChr       = nfsv4.NF4CHR
	TypeSymlink   = nfsv4.NF4LNK
	TypeSocket    = nfsv4.NF4SOCK
	TypeFIFO      = nfsv4.NF4FIFO
	TypeAttrDir   = nfsv4.NF4ATTRDIR
	TypeNamedAttr = nfsv4.NF4NAMEDATTR
)

// FSID is a filesystem id (fsid4).
type FSID struct{ Major, Minor uint64 }

// Specdata is a device number (specdata4): major and minor.
type Specdata struct{ Major, Minor uint32 }

// Attr is the typed subset of fattr4 that efs-fuse uses. Mask tells which
// fields the server returned; the others are zero.
type Attr struct {
	Mask      AttrMask
	Type      nfsv4.NfsFtype4 // type (1); compare with TypeReg, TypeDir, ...
	Change    uint64          // change (3)
	Size      uint64          // size (4)
	FSID      FSID            // fsid (8)
	FH        FH              // filehandle (19), requested by READDIR only
	FileID    uint64          // fileid (20)
	Mode      uint32          // mode (33), permission bits only (07777)
	NumLinks  uint32          // numlinks (35)
	UID, GID  uint32          // owner (36), owner_group (37); see parseID
	RawDev    Specdata        // rawdev (41)
	SpaceUsed uint64          // space_used (45)
	Atime     time.Time       // time_access (47)
	Ctime     time.Time       // time_metadata (52)
	Mtime     time.Time       // time_modify (53)
}

// FSAttr holds the per-filesystem attributes used for statfs and the lease.
type FSAttr struct {
	Mask           AttrMask
	SupportedAttrs AttrMask // supported_attrs (0); attributes >= 96 are dropped
	LeaseTime      uint32   // lease_time (10), seconds
	FilesAvail     uint64   // files_avail (21)
	FilesFree      uint64   // files_free (22)
	FilesTotal     uint64   // files_total (23)
	MaxName        uint32   // maxname (29)
	MaxRead        uint64   // maxread (30)
	MaxWrite       uint64   // maxwrite (31)
	SpaceAvail     uint64   // space_avail (42)
	SpaceFree      uint64   // space_free (43)
	SpaceTotal     uint64   // space_total (44)
}

var fileAttrs = maskOf(nfsv4.FATTR4_TYPE, nfsv4.FATTR4_CHANGE, nfsv4.FATTR4_SIZE,
	nfsv4.FATTR4_FSID, nfsv4.FATTR4_FILEID, nfsv4.FATTR4_MODE, nfsv4.FATTR4_NUMLINKS,
	nfsv4.FATTR4_OWNER, nfsv4.FATTR4_OWNER_GROUP, nfsv4.FATTR4_RAWDEV,
	nfsv4.FATTR4_SPACE_USED, nfsv4.FATTR4_TIME_ACCESS, nfsv4.FATTR4_TIME_METADATA,
	nfsv4.FATTR4_TIME_MODIFY)

var (
	// FileAttrRequest is the GETATTR bitmap for Attr (all of it but FH).
	FileAttrRequest = fileAttrs.Bitmap()
	// DirAttrRequest is READDIR's attr_request: FileAttrRequest plus the
	// filehandle, so a listing needs no LOOKUP per entry.
	DirAttrRequest = func() nfsv4.Bitmap4 {
		m := fileAttrs
		m.Set(nfsv4.FATTR4_FILEHANDLE)
		return m.Bitmap()
	}()
	// FSAttrRequest is the GETATTR bitmap for FSAttr.
	FSAttrRequest = maskOf(nfsv4.FATTR4_SUPPORTED_ATTRS, nfsv4.FATTR4_LEASE_TIME,
		nfsv4.FATTR4_FILES_AVAIL, nfsv4.FATTR4_FILES_FREE, nfsv4.FATTR4_FILES_TOTAL,
		nfsv4.FATTR4_MAXNAME, nfsv4.FATTR4_MAXREAD, nfsv4.FATTR4_MAXWRITE,
		nfsv4.FATTR4_SPACE_AVAIL, nfsv4.FATTR4_SPACE_FREE, nfsv4.FATTR4_SPACE_TOTAL).Bitmap()
)

// ErrBadAttrs is wrapped by every fattr4 decoding error.
var ErrBadAttrs = errors.New("nfsclient: malformed fattr4")

// nobodyID stands for an owner or group that is not a number; see parseID.
const nobodyID = 65534

// modeMask keeps the permission, setuid, setgid and sticky bits (MODE4_*,
// RFC 8881 section 6.2.4); mode4 carries no file type.
const modeMask = 0o7777

// maxFHSize is NFS4_FHSIZE (RFC 8881 section 4.2.1).
const maxFHSize = 128

// DecodeAttr decodes the file attributes in f; FSAttr's attributes are
// accepted and skipped. It fails, wrapping ErrBadAttrs, on an attribute
// whose shape it does not know (naming its number), on short data, on
// trailing bytes and on an nfstime4 with nseconds >= 1e9. It never panics.
func DecodeAttr(f *nfsv4.Fattr4) (Attr, error) {
	var a Attr
	var fs FSAttr
	err := decodeFattr(f, &a, &fs)
	return a, err
}

// DecodeFSAttr decodes the filesystem attributes in f, like DecodeAttr.
func DecodeFSAttr(f *nfsv4.Fattr4) (FSAttr, error) {
	var a Attr
	var fs FSAttr
	err := decodeFattr(f, &a, &fs)
	fs.Mask = a.Mask
	return fs, err
}

// decodeFattr walks f's bitmap in ascending order and decodes each value
// into a or fs; both decoders share it so either accepts the other's
// attributes (their sizes are known) and just ignores them.
func decodeFattr(f *nfsv4.Fattr4, a *Attr, fs *FSAttr) error {
	r := reader{b: f.AttrVals}
	for w, word := range f.Attrmask {
		for word != 0 {
			attr := 32*w + bits.TrailingZeros32(word)
			word &= word - 1
			if !decodeOne(attr, &r, a, fs) {
				return fmt.Errorf("%w: unknown attribute %d", ErrBadAttrs, attr)
			}
			if r.err != nil {
				return fmt.Errorf("%w: attribute %d: %v", ErrBadAttrs, attr, r.err)
			}
			a.Mask.Set(attr)
		}
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last attribute", ErrBadAttrs, len(r.b))
	}
	return nil
}

// decodeOne decodes attribute attr (shapes from RFC 8881 section 5.6/5.7)
// and reports whether it knows it.
func decodeOne(attr int, r *reader, a *Attr, fs *FSAttr) bool {
	switch attr {
	case nfsv4.FATTR4_SUPPORTED_ATTRS:
		fs.SupportedAttrs = r.bitmap()
	case nfsv4.FATTR4_TYPE:
		a.Type = nfsv4.NfsFtype4(r.uint32())
	case nfsv4.FATTR4_CHANGE:
		a.Change = r.uint64()
	case nfsv4.FATTR4_SIZE:
		a.Size = r.uint64()
	case nfsv4.FATTR4_FSID:
		a.FSID = FSID{Major: r.uint64(), Minor: r.uint64()}
	case nfsv4.FATTR4_LEASE_TIME:
		fs.LeaseTime = r.uint32()
	case nfsv4.FATTR4_FILEHANDLE:
		if fh := r.opaque(maxFHSize); r.err == nil {
			a.FH = FH(bytes.Clone(fh))
		}
	case nfsv4.FATTR4_FILEID:
		a.FileID = r.uint64()
	case nfsv4.FATTR4_FILES_AVAIL:
		fs.FilesAvail = r.uint64()
	case nfsv4.FATTR4_FILES_FREE:
		fs.FilesFree = r.uint64()
	case nfsv4.FATTR4_FILES_TOTAL:
		fs.FilesTotal = r.uint64()
	case nfsv4.FATTR4_MAXNAME:
		fs.MaxName = r.uint32()
	case nfsv4.FATTR4_MAXREAD:
		fs.MaxRead = r.uint64()
	case nfsv4.FATTR4_MAXWRITE:
		fs.MaxWrite = r.uint64()
	case nfsv4.FATTR4_MODE:
		a.Mode = r.uint32() & modeMask
	case nfsv4.FATTR4_NUMLINKS:
		a.NumLinks = r.uint32()
	case nfsv4.FATTR4_OWNER:
		a.UID = parseID(r.opaque(len(r.b)))
	case nfsv4.FATTR4_OWNER_GROUP:
		a.GID = parseID(r.opaque(len(r.b)))
	case nfsv4.FATTR4_RAWDEV:
		a.RawDev = Specdata{Major: r.uint32(), Minor: r.uint32()}
	case nfsv4.FATTR4_SPACE_AVAIL:
		fs.SpaceAvail = r.uint64()
	case nfsv4.FATTR4_SPACE_FREE:
		fs.SpaceFree = r.uint64()
	case nfsv4.FATTR4_SPACE_TOTAL:
		fs.SpaceTotal = r.uint64()
	case nfsv4.FATTR4_SPACE_USED:
		a.SpaceUsed = r.uint64()
	case nfsv4.FATTR4_TIME_ACCESS:
		a.Atime = r.time()
	case nfsv4.FATTR4_TIME_METADATA:
		a.Ctime = r.time()
	case nfsv4.FATTR4_TIME_MODIFY:
		a.Mtime = r.time()
	default:
		return false
	}
	return true
}

// parseID maps owner and owner_group to a numeric id. With AUTH_SYS and
// id mapping off, servers (EFS among them) send ids as decimal strings (RFC
// 8881 section 5.9). A name we cannot map becomes nobody (65534) instead of
// an error, as the kernel's idmapper does: one odd owner must not make a
// file, or a whole READDIR page, unreadable.
func parseID(s []byte) uint32 {
	id, err := strconv.ParseUint(string(s), 10, 32)
	if err != nil {
		return nobodyID
	}
	return uint32(id)
}

// reader is a cursor over XDR data. The first error sticks and makes every
// later read return zero, so decoders check once per attribute.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("data too short")

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.err, r.b = errShort, nil
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) uint32() uint32 {
	if p := r.take(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

func (r *reader) uint64() uint64 {
	if p := r.take(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// opaque reads a variable-length opaque (or string) of at most max bytes.
// The length is checked against the data before anything is sliced.
func (r *reader) opaque(max int) []byte {
	n := r.uint32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) || uint64(n) > uint64(len(r.b)) {
		r.err = fmt.Errorf("opaque of %d bytes, at most %d allowed and %d left", n, max, len(r.b))
		return nil
	}
	p := r.take(int(n))
	if pad := r.take(int(-n & 3)); r.err == nil && !allZero(pad) {
		r.err = errors.New("non-zero XDR padding")
	}
	return p
}

// bitmap reads a bitmap4 into an AttrMask, dropping words beyond it. The
// count is checked against the data, so a huge count cannot loop for long.
func (r *reader) bitmap() AttrMask {
	var m AttrMask
	n := r.uint32()
	if r.err == nil && uint64(n)*4 > uint64(len(r.b)) {
		r.err = errShort
	}
	for i := 0; r.err == nil && i < int(n); i++ {
		w := r.uint32()
		if i < len(m) {
			m[i] = w
		}
	}
	return m
}

// time reads an nfstime4 (RFC 8881 section 3.3.1), whose nseconds must be
// below one second.
func (r *reader) time() time.Time {
	sec := int64(r.uint64())
	nsec := r.uint32()
	if r.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		r.err = fmt.Errorf("nfstime4 nseconds %d out of range", nsec)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec))
}

func allZero(p []byte) bool {
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

// SetAttr lists attributes to change with SETATTR, or to create a file or
// directory with (OPEN and CREATE createattrs, typically just Mode and
// maybe UID/GID). A nil field is left alone.
type SetAttr struct {
	Mode         *uint32 // permission bits; bits outside 07777 are dropped
	UID, GID     *uint32
	Size         *uint64
	Atime, Mtime *SetTime
}

// SetTime is a new access or modify time: the server's clock when Now is
// set (SET_TO_SERVER_TIME4), otherwise Time (SET_TO_CLIENT_TIME4), RFC 8881
// section 3.3.7.
type SetTime struct {
	Now  bool
	Time time.Time
}

// EncodeSetAttr encodes s as the fattr4 of SETATTR, OPEN or CREATE. Values
// go in ascending attribute-number order, as the bitmap is walked (RFC 8881
// section 3.3.17); the bitmap has as many words as the highest bit needs.
// Owners are sent as decimal ids (RFC 8881 section 5.9).
func EncodeSetAttr(s SetAttr) nfsv4.Fattr4 {
	var m AttrMask
	var w writer
	if s.Size != nil {
		m.Set(nfsv4.FATTR4_SIZE)
		w.uint64(*s.Size)
	}
	if s.Mode != nil {
		m.Set(nfsv4.FATTR4_MODE)
		w.uint32(*s.Mode & modeMask)
	}
	if s.UID != nil {
		m.Set(nfsv4.FATTR4_OWNER)
		w.opaque(strconv.AppendUint(nil, uint64(*s.UID), 10))
	}
	if s.GID != nil {
		m.Set(nfsv4.FATTR4_OWNER_GROUP)
		w.opaque(strconv.AppendUint(nil, uint64(*s.GID), 10))
	}
	if s.Atime != nil {
		m.Set(nfsv4.FATTR4_TIME_ACCESS_SET)
		w.settime(*s.Atime)
	}
	if s.Mtime != nil {
		m.Set(nfsv4.FATTR4_TIME_MODIFY_SET)
		w.settime(*s.Mtime)
	}
	return nfsv4.Fattr4{Attrmask: m.Bitmap(), AttrVals: w}
}

// writer appends XDR encodings.
type writer []byte

func (w *writer) uint32(v uint32) { *w = binary.BigEndian.AppendUint32(*w, v) }
func (w *writer) uint64(v uint64) { *w = binary.BigEndian.AppendUint64(*w, v) }

func (w *writer) opaque(p []byte) {
	w.uint32(uint32(len(p)))
	*w = append(*w, p...)
	*w = append(*w, make([]byte, -len(p)&3)...)
}

func (w *writer) time(t time.Time) {
	w.uint64(uint64(t.Unix()))
	w.uint32(uint32(t.Nanosecond()))
}

func (w *writer) settime(t SetTime) {
	if t.Now {
		w.uint32(uint32(nfsv4.SET_TO_SERVER_TIME4))
		return
	}
	w.uint32(uint32(nfsv4.SET_TO_CLIENT_TIME4))
	w.time(t.Time)
}
