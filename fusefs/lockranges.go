package fusefs

import "github.com/efs-fuse/efs-fuse/nfsclient"

// heldRanges is the set of byte ranges one lock-owner holds on one file,
// kept only so that the locks can be taken again after a server restart
// (the server forgets them; RFC 8881 section 8.4.2.1). POSIX semantics:
// a new lock replaces the owner's locks on the overlapping part, an unlock
// removes that part, and adjacent ranges are not merged (harmless: each is
// re-taken as it was).
type heldRanges []heldRange

type heldRange struct {
	typ        nfsclient.LockType // ReadLock or WriteLock
	start, end uint64             // [start, end); end == 0 means to EOF
}

// span turns an NFS offset and length into [start, end).
func span(off, length uint64) (uint64, uint64) {
	if length == nfsclient.ToEOF || off+length < off {
		return off, 0
	}
	return off, off + length
}

func (r heldRange) length() uint64 {
	if r.end == 0 {
		return nfsclient.ToEOF
	}
	return r.end - r.start
}

// overlaps reports whether r intersects [start, end).
func (r heldRange) overlaps(start, end uint64) bool {
	return (end == 0 || r.start < end) && (r.end == 0 || start < r.end)
}

func (h *heldRanges) add(typ nfsclient.LockType, off, length uint64) {
	h.remove(off, length)
	start, end := span(off, length)
	*h = append(*h, heldRange{typ: typ, start: start, end: end})
}

// remove drops [off, off+length) from every range, splitting where needed.
func (h *heldRanges) remove(off, length uint64) {
	start, end := span(off, length)
	var out heldRanges
	for _, r := range *h {
		if !r.overlaps(start, end) {
			out = append(out, r)
			continue
		}
		if r.start < start {
			out = append(out, heldRange{typ: r.typ, start: r.start, end: start})
		}
		if end != 0 && (r.end == 0 || r.end > end) {
			out = append(out, heldRange{typ: r.typ, start: end, end: r.end})
		}
	}
	*h = out
}
