package fusefs

import (
	"sync"
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
	pool   *sync.Pool
	budget *memBudget
}

// getWbuf returns a buffer of length 0 and capacity maxIO holding one
// reference, charged to the budget. It does not wait for room: writes
// wait before they copy (writeback.write).
func (fsys *filesystem) getWbuf() *wbuf {
	w, _ := fsys.wbufs.Get().(*wbuf)
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
		w.pool.Put(w)
	}
}
