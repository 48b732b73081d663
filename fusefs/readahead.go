package fusefs

import (
	"context"
	"sync"
)

// Read-ahead: adaptive sequential prefetch per open file handle.
//
// EFS is latency-bound: one 1 MiB READ takes a round trip, so a reader
// that asks for one block at a time (O_DIRECT, or the kernel with its
// small default read-ahead) gets one block per round trip. A handle that
// reads sequentially gets a window of READs issued ahead of it, in
// chunks of the session's READ size aligned to that size; the window
// starts at raMinWindow and doubles with each sequential read up to
// raMaxWindow. A read elsewhere (random access) drops the chunks and the
// window. A read that finds its data in chunks waits for them (usually
// already there) and copies; what is not covered is read directly.
//
// Memory is bounded per handle by twice raMaxWindow plus one chunk (the
// window ahead, and one behind for requests that arrive late), and per
// mount by the memory budget it shares with write-behind (budget.go): a
// chunk is charged from its READ until its buffer is handed back, and
// none starts while read-ahead's share of the budget is in use.
//
// Consistency: a chunk is only used if no write went through the node
// after it was issued (node.writes), so a handle never reads its own
// stale data; other clients' writes are seen at the next open
// (close-to-open), as with the kernel client's page cache.
//
// 8 MiB in flight covers EFS's per-client throughput at its latency, as the
// kernel read-ahead's 4 MiB nearly does. 16 MiB measured worse here in
// back-to-back cold 256 MiB reads (64% and 65% of the client path, against
// 68% to 98% with 8 MiB; noisy): more READs at once than the server's disk
// read-ahead keeps sequential.
const (
	raMinWindow = 2 << 20
	raMaxWindow = 8 << 20
)

// readahead is one handle's prefetch state.
type readahead struct {
	mu     sync.Mutex // guards the fields below; never held across an RPC
	next   uint64     // offset just past the last read: where a sequential reader reads next
	window int        // bytes to keep prefetched past next; 0 when not sequential
	chunks []*raChunk // in offset order
	eof    uint64     // smallest offset known to be at or past EOF; 0 = unknown
	closed bool

	wg sync.WaitGroup // prefetch READs in flight
	// fetchCtx is the prefetch READs' context, made with the first one;
	// close cancels it only if its own context ends first.
	fetchCtx    context.Context
	cancelFetch context.CancelFunc
}

// raChunk is one prefetched READ.
type raChunk struct {
	off  uint64
	size uint64        // bytes asked for; immutable, readable under readahead.mu
	gen  uint64        // node.writes when issued
	done chan struct{} // closed when the READ ended
	data []byte        // written by fetch; read only after done
	eof  bool
	err  error

	// data lives in the READ reply's pooled buffer, handed back by
	// release once no one uses it: refs counts the chunk list's hold
	// (until dropped) and each reader copying from it. All guarded
	// by readahead.mu.
	refs    int
	release func()     // set by fetch; nil while the READ is in flight
	fetched bool       // the READ ended (fetch is done with the chunk)
	budget  *memBudget // charged size bytes, until the buffer is handed back
}

// unrefLocked drops one hold on c and hands its buffer back after the
// last. Caller holds readahead.mu.
func (c *raChunk) unrefLocked() {
	c.refs--
	if c.refs == 0 {
		c.freeLocked()
	}
}

// freeLocked hands back the buffer of a chunk nobody holds, once its READ
// ended (fetch calls it then otherwise), and its charge to the budget.
// Caller holds readahead.mu.
func (c *raChunk) freeLocked() {
	if !c.fetched {
		return
	}
	if c.release != nil {
		c.release()
		c.release = nil
	}
	if c.budget != nil {
		c.budget.uncharge(int64(c.size))
		c.budget = nil
	}
}

// read serves the request for len(dest) bytes at off through the
// read-ahead. The reply holds slices of the chunks that cover it (no copy)
// and, for what no chunk covers, of dest, filled by plain READs at the
// same position it has in the reply. It is short only at EOF; on error it
// holds what was read before the error, which is returned beside it.
func (ra *readahead) read(ctx context.Context, h *fileHandle, dest []byte, off uint64) (*readReply, error) {
	n := h.n
	chunkSize := uint64(n.fsys.maxIO)
	gen := n.writes.Load()

	ra.mu.Lock()
	end := off + uint64(len(dest))
	// The kernel sends a sequential reader's requests concurrently
	// (async read-ahead), so they arrive slightly out of order: a read
	// near the head of the stream counts as sequential, not only the
	// exact next offset. Until a stream exists, "near" is within one
	// request: with the stream's slack, one in a hundred random 4 KiB
	// reads of a 256 MiB file looked sequential and started 3 MiB of
	// READs that the next random read threw away.
	slack := uint64(len(dest))
	if ra.window > 0 {
		slack = max(uint64(ra.window), 2*chunkSize)
	}
	near := ra.next != 0 && end+slack >= ra.next && off <= ra.next+slack
	sequential := near || ra.covers(off, gen)
	if sequential {
		ra.window = min(max(2*ra.window, raMinWindow), raMaxWindow)
		ra.next = max(ra.next, end)
	} else {
		ra.dropLocked(n.fsys, 0)
		ra.window = 0
		ra.next = end
	}
	window := ra.window
	ra.mu.Unlock()
	if sequential {
		// Chunks first, this request's own included: the kernel sends
		// its read-ahead as several requests at once, and those that
		// found no chunk yet would each READ directly what a chunk
		// READs again moments later. One window ahead of this
		// request's end.
		ra.fill(h, off, end+uint64(window), gen)
	}

	reply := newReadReply(ra)
	for reply.size < len(dest) {
		cur := off + uint64(reply.size)
		c := ra.chunkAt(cur, gen)
		if c == nil {
			break
		}
		select {
		case <-c.done:
		case <-ctx.Done():
			ra.doneWith(c)
			return reply, ctx.Err()
		}
		if c.err != nil || c.gen != n.writes.Load() {
			ra.mu.Lock()
			c.unrefLocked()
			ra.dropLocked(n.fsys, 0)
			ra.mu.Unlock()
			break
		}
		var part []byte
		if skip := int(cur - c.off); skip < len(c.data) {
			part = c.data[skip:min(len(c.data), skip+len(dest)-reply.size)]
		}
		reply.add(part, c) // the reply owns chunkAt's reference now
		// A short or EOF chunk holds the end of the file.
		if (c.eof || uint64(len(c.data)) < c.size) && off+uint64(reply.size) >= c.off+uint64(len(c.data)) {
			return reply, nil
		}
	}
	for reply.size < len(dest) { // what the chunks did not cover
		from := reply.size
		to := min(len(dest), from+int(chunkSize))
		got, eof, err := n.fsys.sess.Read(ctx, h.cred, n.getFH(), h.ioStateid(), off+uint64(from), dest[from:to])
		reply.add(dest[from:from+got], nil)
		if err != nil {
			return reply, err
		}
		if eof || got == 0 {
			ra.mu.Lock()
			if e := off + uint64(reply.size); ra.eof == 0 || e < ra.eof {
				ra.eof = e
			}
			ra.mu.Unlock()
			break
		}
	}
	return reply, nil
}

// covers reports whether a chunk for off exists and is current. Caller
// holds mu.
func (ra *readahead) covers(off, gen uint64) bool {
	for _, c := range ra.chunks {
		if c.gen == gen && off >= c.off && off < c.off+c.size {
			return true
		}
	}
	return false
}

// chunkAt returns the current chunk that holds off, with a reference for
// the caller, or nil.
func (ra *readahead) chunkAt(off, gen uint64) *raChunk {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for _, c := range ra.chunks {
		if c.gen == gen && off >= c.off && off < c.off+c.size {
			c.refs++ // the caller's, given back with doneWith
			return c
		}
	}
	return nil
}

// doneWith gives back a reference taken by chunkAt.
func (ra *readahead) doneWith(c *raChunk) {
	ra.mu.Lock()
	c.unrefLocked()
	ra.mu.Unlock()
}

// fill starts chunk READs so that [from, upto) is covered, within the
// mount's budget, and forgets chunks that end a window before from.
func (ra *readahead) fill(h *fileHandle, from, upto, gen uint64) {
	fsys := h.n.fsys
	size := uint64(fsys.maxIO)
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if ra.closed {
		return
	}
	// Keep the chunks of the last window behind from as well: the
	// kernel's async read-ahead requests arrive out of order, and one
	// just behind the head still needs its chunk (dropping at from sent
	// a fifth of a sequential read's requests to the server twice).
	ra.dropLocked(fsys, max(from-min(from, uint64(ra.window)), 1))
	start := from / size * size
	if len(ra.chunks) > 0 {
		start = max(start, ra.chunks[len(ra.chunks)-1].off+size)
	}
	known := h.n.knownSize()
	for off := start; off < upto; off += size {
		if ra.eof != 0 && off >= ra.eof {
			return
		}
		if off >= known {
			// Past the size last seen: the file may grow, but then
			// its reads go straight to the server; a prefetch there
			// would mostly be a wasted READ.
			return
		}
		if !fsys.budget.tryCharge(int64(size)) {
			return
		}
		c := &raChunk{off: off, size: size, gen: gen, done: make(chan struct{}), refs: 1, budget: fsys.budget}
		ra.chunks = append(ra.chunks, c)
		if ra.fetchCtx == nil {
			ra.fetchCtx, ra.cancelFetch = context.WithCancel(context.Background())
		}
		ra.wg.Add(1)
		go ra.fetch(ra.fetchCtx, h, c)
	}
}

// fetch runs one chunk's READ. Nothing cancels it but a close whose
// own context ended (a forced unmount): a READ is cheap to finish, and
// close waits for it.
func (ra *readahead) fetch(ctx context.Context, h *fileHandle, c *raChunk) {
	defer ra.wg.Done()
	defer close(c.done)
	// The reply's own bytes, not a copy: nothing writes to them.
	data, eof, release, err := h.n.fsys.sess.ReadData(ctx, h.cred, h.n.getFH(), h.ioStateid(), c.off, int(c.size))
	n := len(data)
	c.data, c.eof, c.err = data, eof, err
	ra.mu.Lock()
	defer ra.mu.Unlock()
	c.release, c.fetched = release, true
	if c.refs == 0 {
		c.freeLocked() // dropped while in flight: nobody will read it
	}
	if eof || (err == nil && uint64(n) < c.size) {
		if e := c.off + uint64(n); ra.eof == 0 || e < ra.eof {
			ra.eof = e
		}
	}
}

// dropLocked forgets the chunks that end at or before keepFrom (all of
// them when keepFrom is 0); each one's memory goes back to the budget
// once no reply holds it and its READ ended. A chunk still being read is
// forgotten all the same; its READ finishes into memory nobody looks at.
// Caller holds mu.
func (ra *readahead) dropLocked(fsys *filesystem, keepFrom uint64) {
	kept := ra.chunks[:0]
	for _, c := range ra.chunks {
		if keepFrom != 0 && c.off+c.size > keepFrom {
			kept = append(kept, c)
			continue
		}
		c.unrefLocked()
	}
	clear(ra.chunks[len(kept):])
	ra.chunks = kept
}

// close drops every chunk and waits for the READs in flight (Release),
// cutting the wait short if ctx ends first.
func (ra *readahead) close(ctx context.Context, fsys *filesystem) {
	ra.mu.Lock()
	ra.closed = true
	ra.dropLocked(fsys, 0)
	cancel := ra.cancelFetch
	ra.mu.Unlock()
	if cancel != nil {
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
	}
	ra.wg.Wait()
}
