package fusefs

import (
	"sync/atomic"
)

// wbuf is a write's copy of the application's data, from the mount's pool
// of maxIO-sized buffers. A fresh 1 MiB buffer per FUSE WRITE meant a page
// fault per 4 KiB touched: the copy into it was a tenth of the CPU of a
// sequential write. The buffer is shared by the WRITE sending it and by
// the uncommitted entries that keep slices of it until COMMIT; it goes
// back to the pool when the last of them lets go.
//
// Each buffer handed out is charged to the mount's budget (budget.go)
// until it goes back to the pool.
type wbuf struct {
	b      []byte
	refs   atomic.Int32
	pool   *wbufPool
	budget *memBudget
}

// wbufPool keeps up to its capacity of free buffers, for as long as the
// mount is busy (the trimmer empties it when idle). Its capacity is what
// the memory budget lets writes hold at once, so buffers are never made
// beyond the most ever in use together: a COMMIT frees dozens at once,
// and the writes after it reuse them. Not a sync.Pool: that
// is emptied at every garbage collection, which under a steady write
// runs every few dozen MiB (the daemon's soft memory limit), and each
// fresh 1 MiB buffer then page-faults its way through the copy: 5% of a
// sequential write's CPU in a profile.
type wbufPool struct{ free chan *wbuf }

func newWbufPool(n int) wbufPool { return wbufPool{free: make(chan *wbuf, n)} }

func (p *wbufPool) get() *wbuf {
	select {
	case w := <-p.free:
		return w
	default:
		return nil
	}
}

func (p *wbufPool) put(w *wbuf) {
	select {
	case p.free <- w:
	default: // full: left to the garbage collector
	}
}

// drain lets go of every free buffer (the mount is idle).
func (p *wbufPool) drain() {
	for {
		select {
		case <-p.free:
		default:
			return
		}
	}
}

// getWbuf returns a buffer of length 0 and capacity maxIO holding one
// reference, charged to the budget. It does not wait for room: writes
// wait before they copy (writeback.write).
func (fsys *filesystem) getWbuf() *wbuf {
	w := fsys.wbufs.get()
	if w == nil || cap(w.b) < fsys.maxIO {
		w = &wbuf{b: make([]byte, 0, fsys.maxIO), pool: &fsys.wbufs, budget: fsys.budget}
	}
	w.b = w.b[:0]
	w.refs.Store(1)
	w.budget.charge(int64(cap(w.b)))
	return w
}

func (w *wbuf) hold() *wbuf {
	w.refs.Add(1)
	return w
}

// release drops one reference; the last returns the buffer to its pool.
func (w *wbuf) release() {
	if w == nil {
		return
	}
	// Below zero would be a bug: the buffer is then left to the GC
	// rather than pooled while someone may still use it.
	if w.refs.Add(-1) == 0 {
		w.budget.uncharge(int64(cap(w.b)))
		w.pool.put(w)
	}
}
