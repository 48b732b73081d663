package fusefs

import (
	"context"
	"time"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Write gathering: small writes are held and sent as one WRITE.
//
// A write smaller than the session's WRITE size is not sent at once but
// appended to the file's held write while it continues it (same open,
// same user, next offset) and fits in one WRITE. The held write goes out
// when it is full, when a write does not continue it, when no write came
// for gatherDelay, and before anything that must see it (drain: reads, attribute
// reads and changes, unlocks, COMMIT).
//
// Two things are gained. Programs that write in small pieces (cp and tar
// use 128 KiB, many others 4-64 KiB) get 1 MiB WRITEs. And a small file
// written and closed at once, whose data is all still held at close,
// goes out in one FILE_SYNC WRITE instead of a WRITE and a COMMIT: one
// round trip less on the close path, as the kernel NFS client does for a
// file with a single dirty request (see commit).
//
// Held data is no less safe than data in the kernel client's page cache:
// the application's close, fsync or flush still return only once it is on
// stable storage.
const gatherDelay = 50 * time.Millisecond

// heldWrite is the gathered small writes of one file not sent yet.
type heldWrite struct {
	n       *node
	off     uint64
	buf     *wbuf // the data, one reference
	cred    rpc.Cred
	stateid nfsclient.Stateid
	timer   *time.Timer
	seq     uint64 // its place in writeback.waiting once detached
}

func (h *heldWrite) end() uint64 { return h.off + uint64(len(h.buf.b)) }

// gather holds data (a write smaller than maxIO) if it can; it returns the
// held write it displaced, if any, for the caller to send.
func (wb *writeback) gather(cred rpc.Cred, n *node, stateid nfsclient.Stateid, data []byte, off uint64) (displaced *heldWrite, full *heldWrite) {
	maxIO := n.fsys.maxIO
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if h := wb.held; h != nil && (h.cred.UID != cred.UID || h.cred.GID != cred.GID || h.stateid != stateid || h.end() != off || len(h.buf.b)+len(data) > maxIO) {
		displaced = wb.detachLocked()
	}
	if wb.held == nil {
		h := &heldWrite{n: n, off: off, cred: cred, stateid: stateid, buf: n.fsys.getWbuf()}
		h.timer = time.AfterFunc(gatherDelay, wb.flushHeld)
		wb.held = h
	}
	wb.held.buf.b = append(wb.held.buf.b, data...)
	wb.held.timer.Reset(gatherDelay) // counted from the last write
	if len(wb.held.buf.b) >= maxIO {
		full = wb.detachLocked()
	}
	return displaced, full
}

// detachLocked takes the held write away (nil if none). Caller holds mu.
func (wb *writeback) detachLocked() *heldWrite {
	h := wb.held
	if h != nil {
		h.timer.Stop()
		wb.held = nil
		h.seq = wb.enqueueLocked(writeSpan{h.off, h.end()}) // in order, before the next write can be taken
	}
	return h
}

// abandon drops a detached held write that will not be sent (an earlier
// one failed): out of waiting, its buffer let go.
func (wb *writeback) abandon(h *heldWrite) {
	if h == nil {
		return
	}
	wb.mu.Lock()
	wb.dequeueLocked(h.seq)
	wb.mu.Unlock()
	h.buf.release()
}

// sendHeld sends the held write h on its way like any other write.
func (wb *writeback) sendHeld(ctx context.Context, h *heldWrite) error {
	if h == nil {
		return nil
	}
	return wb.sendAsync(ctx, h.cred, h.n, h.stateid, h.buf, h.off, h.seq)
}

// flushHeld sends whatever is held (the gatherDelay timer). A failure is
// reported by the file's next write, flush or fsync, as for any WRITE.
func (wb *writeback) flushHeld() {
	wb.mu.Lock()
	h := wb.detachLocked()
	wb.mu.Unlock()
	if err := wb.sendHeld(context.Background(), h); err != nil {
		wb.mu.Lock()
		if wb.failed == nil {
			wb.failed = err
		}
		wb.mu.Unlock()
	}
}

// syncHeld is commit's shortcut: when the held write is all the file has
// not made durable (nothing in flight, nothing kept uncommitted), it is
// sent with FILE_SYNC, which makes a COMMIT unnecessary. It reports
// whether it did so; otherwise commit goes the usual way. Caller holds
// commitMu.
func (wb *writeback) syncHeld(ctx context.Context, n *node) (bool, error) {
	wb.mu.Lock()
	h := wb.held
	if h == nil || len(wb.pending) > 0 || len(wb.inflight) > 0 || len(wb.waiting) > 0 || wb.failed != nil {
		wb.mu.Unlock()
		return false, nil
	}
	wb.detachLocked()
	wb.dequeueLocked(h.seq) // in flight at once, below
	sp := writeSpan{h.off, h.end()}
	wb.inflight = append(wb.inflight, sp)
	wb.flying += len(h.buf.b)
	wb.mu.Unlock()
	// A server answering UNSTABLE anyway leaves the data kept (size > 0)
	// and commit goes the usual way.
	err := wb.send(ctx, h.cred, n, h.stateid, h.buf, h.off, nfsclient.FileSync)
	h.buf.release()
	wb.release(sp, nil) // the error goes to the caller, not to the next write
	return err == nil && wb.size() == 0, err
}
