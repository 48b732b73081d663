package fusefs

import "github.com/hanwen/go-fuse/v2/fuse"

// readReply is the answer to one FUSE READ: slices of prefetched chunks,
// which are the NFS READ replies' own buffers, and of the request's
// buffer for what was read directly. go-fuse writes it to /dev/fuse with
// one writev (Slices), so the data is not copied in user space between
// the TLS record and the kernel; the chunks are held until go-fuse calls
// Done after that write.
type readReply struct {
	ra    *readahead
	parts [][]byte
	held  []*raChunk
	size  int

	// Inline backing for parts and held: a request spans at most two
	// chunks and a direct read, so the reply is one allocation.
	partsBuf [3][]byte
	heldBuf  [2]*raChunk
}

func newReadReply(ra *readahead) *readReply {
	r := &readReply{ra: ra}
	r.parts, r.held = r.partsBuf[:0], r.heldBuf[:0]
	return r
}

// add appends data to the reply; c, when not nil, is a chunk reference
// the reply now owns (given back in Done).
func (r *readReply) add(data []byte, c *raChunk) {
	if c != nil {
		r.held = append(r.held, c)
	}
	if len(data) > 0 {
		r.parts = append(r.parts, data)
		r.size += len(data)
	}
}

var _ fuse.ReadResult = (*readReply)(nil)

func (r *readReply) Size() int { return r.size }

// Slices is go-fuse's vectored write: it is called only between the
// filesystem's return and Done, and may be called more than once.
func (r *readReply) Slices() ([][]byte, fuse.Status) { return r.parts, fuse.OK }

// Bytes flattens the reply into buf, for go-fuse paths that do not write
// vectored; it copies, because go-fuse may call Done before it writes.
func (r *readReply) Bytes(buf []byte) ([]byte, fuse.Status) {
	if cap(buf) < r.size {
		buf = make([]byte, r.size)
	}
	buf = buf[:0]
	for _, p := range r.parts {
		buf = append(buf, p...)
	}
	return buf, fuse.OK
}

// Done gives the chunks back. go-fuse calls it once, after the write; a
// reply it drops without Done (an interrupted request) leaves its chunks
// to the garbage collector, which is safe: the pool then just misses
// those buffers.
func (r *readReply) Done() {
	if len(r.held) == 0 {
		return
	}
	r.ra.mu.Lock()
	for _, c := range r.held {
		c.unrefLocked()
	}
	r.ra.mu.Unlock()
	clear(r.held)
	r.held, r.parts = r.held[:0], r.parts[:0]
}
