package fusefs

import (
	"context"
	"fmt"
	"sync"

	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// Writeback: "never lose a write" (RFC 8881 section 18.32.3).
//
// Data goes to the server in UNSTABLE WRITEs, which the server may keep
// in memory until a COMMIT. Each WRITE returns the server's write
// verifier, which changes when the server restarts (or fails over) and so
// loses uncommitted data. We keep a copy of every uncommitted write with
// its verifier; a COMMIT returns the current verifier, and each kept
// write whose verifier differs is sent again with FILE_SYNC. Only then is
// the data known durable and the copy dropped.
//
// COMMIT runs on flush (close), fsync, release, before a truncate, and
// early when the mount's memory budget is full (budget.go): a write
// waiting for room commits the file keeping the most, which bounds the
// memory of every writer together.
//
// Known limit: a resent write can overwrite a newer overlapping write
// that completed after the COMMIT's snapshot was taken. The kernel does
// not normally send overlapping concurrent writes for one file.

// writeBehindWindow bounds the bytes of one file's WRITEs in flight.
// EFS is latency-bound (a WRITE takes milliseconds), so a writer that
// waited for each WRITE would crawl; 16 MiB keeps 16 1 MiB WRITEs going,
// enough to fill the session's slots at EFS's per-client throughput, and
// bounds the memory a writer can pin (the mount's budget bounds all of
// them together).
const writeBehindWindow = 16 << 20

// writeback is the uncommitted writes of one file, and its WRITEs in
// flight. Its zero value is ready.
//
// Write-behind: a FUSE WRITE returns once its data is copied and its NFS
// WRITE is on its way. Overlapping writes wait for each other, so they
// reach the server in the order the application made them. A WRITE that
// fails is reported by the next write, flush (close) or fsync of the file,
// as with the kernel NFS client's asynchronous writes. Reads, attribute
// reads and changes, unlocks and COMMIT first wait for the WRITEs in
// flight (drain), so the application sees its own writes.
type writeback struct {
	// commitMu serializes COMMITs (and their resends) of the file; it is
	// held across RPCs. Take it before mu.
	commitMu sync.Mutex

	mu       sync.Mutex // guards the fields below
	pending  []uncommitted
	bytes    int
	inflight []writeSpan // WRITEs on their way
	flying   int         // bytes in inflight
	held     *heldWrite  // small writes gathered, not sent yet (gather.go)
	// waiting are the writes taken to be sent but not yet in flight, in
	// the order the application made them: an overlapping write is let
	// in flight only after every earlier one (reserve), and drain waits
	// for them too. A held write joins at detach, when the gather timer
	// may already be sending the next one.
	waiting []waitingWrite
	nextSeq uint64
	changed chan struct{} // closed and replaced when inflight shrinks
	failed  error         // first failed asynchronous WRITE, not yet reported
	cred    rpc.Cred      // of the last write kept: whom a COMMIT for memory runs as
}

// waitingWrite is a write on its way to inflight, numbered in order.
type waitingWrite struct {
	sp  writeSpan
	seq uint64
}

// enqueueLocked numbers sp and adds it to waiting. Caller holds mu.
func (wb *writeback) enqueueLocked(sp writeSpan) uint64 {
	wb.nextSeq++
	wb.waiting = append(wb.waiting, waitingWrite{sp, wb.nextSeq})
	return wb.nextSeq
}

// dequeueLocked removes write seq from waiting and wakes the waiters.
// Caller holds mu.
func (wb *writeback) dequeueLocked(seq uint64) {
	for i, w := range wb.waiting {
		if w.seq == seq {
			wb.waiting = append(wb.waiting[:i], wb.waiting[i+1:]...)
			break
		}
	}
	if wb.changed != nil {
		close(wb.changed)
		wb.changed = nil
	}
}

// writeSpan is the byte range [off, end) of one write in flight.
type writeSpan struct{ off, end uint64 }

func (a writeSpan) overlaps(b writeSpan) bool { return a.off < b.end && b.off < a.end }

// uncommitted is one UNSTABLE WRITE the server acknowledged but may lose.
type uncommitted struct {
	off     uint64
	data    []byte
	buf     *wbuf // holds data; released once it is durable
	verf    [8]byte
	stateid nfsclient.Stateid
}

// write copies data and sends it at off in UNSTABLE WRITEs of at most the
// session's size, without waiting for them (see writeback). It reports an
// earlier asynchronous failure instead, once.
func (wb *writeback) write(ctx context.Context, cred rpc.Cred, n *node, stateid nfsclient.Stateid, data []byte, off uint64) (int, error) {
	if err := wb.takeFailure(); err != nil {
		return 0, err
	}
	// Back-pressure: wait while the mount's buffers fill its budget.
	if err := n.fsys.budget.wait(ctx, n.fsys.relieve); err != nil {
		return 0, err
	}
	n.writes.Add(1)
	if len(data) < n.fsys.maxIO {
		displaced, full := wb.gather(cred, n, stateid, data, off)
		if err := wb.sendHeld(ctx, displaced); err != nil {
			wb.abandon(full)
			return 0, err
		}
		if err := wb.sendHeld(ctx, full); err != nil {
			return 0, err
		}
		return len(data), nil
	}
	wb.mu.Lock()
	held := wb.detachLocked()
	wb.mu.Unlock()
	if err := wb.sendHeld(ctx, held); err != nil {
		return 0, err
	}
	buf := n.fsys.getWbuf()
	buf.b = append(buf.b, data...) // go-fuse reuses data once we return
	if err := wb.sendAsync(ctx, cred, n, stateid, buf, off, 0); err != nil {
		return 0, err
	}
	return len(data), nil
}

// sendAsync sends buf.b at off in the background once the write-behind
// window has room for it, and releases the caller's reference to buf.
// seq is its place in waiting, 0 for a write not queued yet.
func (wb *writeback) sendAsync(ctx context.Context, cred rpc.Cred, n *node, stateid nfsclient.Stateid, buf *wbuf, off uint64, seq uint64) error {
	sp := writeSpan{off, off + uint64(len(buf.b))}
	if err := wb.reserve(ctx, sp, seq); err != nil {
		buf.release()
		return err
	}
	// The WRITE outlives this FUSE request, whose context ends when we
	// return: it runs under a context without cancellation (the soft
	// mount bound still applies inside nfsclient).
	go func() {
		err := wb.send(context.WithoutCancel(ctx), cred, n, stateid, buf, off, nfsclient.Unstable)
		buf.release()
		wb.release(sp, err)
	}()
	return nil
}

// send writes buf.b at off with stability how (the server may grant more)
// and keeps what the server took UNSTABLE until a COMMIT.
func (wb *writeback) send(ctx context.Context, cred rpc.Cred, n *node, stateid nfsclient.Stateid, buf *wbuf, off uint64, how nfsclient.Stability) error {
	fsys := n.fsys
	fh := n.getFH()
	for done := 0; done < len(buf.b); {
		chunk := buf.b[done:min(len(buf.b), done+fsys.maxIO)]
		res, err := fsys.sess.Write(ctx, cred, fh, stateid, off+uint64(done), chunk, how)
		if err != nil {
			return fmt.Errorf("WRITE at %d: %w", off+uint64(done), err)
		}
		if res.Count == 0 {
			return fmt.Errorf("WRITE at %d made no progress", off+uint64(done))
		}
		if res.Committed == nfsclient.Unstable {
			wb.keep(n, cred, uncommitted{off: off + uint64(done), data: chunk[:res.Count], buf: buf.hold(), verf: res.Verifier, stateid: stateid})
		}
		done += int(res.Count)
	}
	return nil
}

// reserve waits until sp overlaps no write in flight nor an earlier one
// waiting, and the window has room (a lone write larger than the window
// still goes), then records sp in flight. seq is sp's place in waiting (0:
// queued now, behind every write taken before).
func (wb *writeback) reserve(ctx context.Context, sp writeSpan, seq uint64) error {
	if seq == 0 {
		wb.mu.Lock()
		seq = wb.enqueueLocked(sp)
		wb.mu.Unlock()
	}
	err := wb.waitLocked(ctx, func() bool {
		if len(wb.inflight) > 0 && wb.flying+int(sp.end-sp.off) > writeBehindWindow {
			return false
		}
		for _, f := range wb.inflight {
			if f.overlaps(sp) {
				return false
			}
		}
		for _, w := range wb.waiting {
			if w.seq < seq && w.sp.overlaps(sp) {
				return false
			}
		}
		wb.dequeueLocked(seq)
		wb.inflight = append(wb.inflight, sp)
		wb.flying += int(sp.end - sp.off)
		return true
	})
	if err != nil {
		wb.mu.Lock()
		wb.dequeueLocked(seq)
		wb.mu.Unlock()
	}
	return err
}

// waitLocked calls done under mu, again after each release, until it
// returns true or ctx ends.
func (wb *writeback) waitLocked(ctx context.Context, done func() bool) error {
	for {
		wb.mu.Lock()
		if done() {
			wb.mu.Unlock()
			return nil
		}
		ch := wb.changedLocked()
		wb.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// release records the end of the write of sp.
func (wb *writeback) release(sp writeSpan, err error) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	for i, f := range wb.inflight {
		if f == sp {
			wb.inflight = append(wb.inflight[:i], wb.inflight[i+1:]...)
			break
		}
	}
	wb.flying -= int(sp.end - sp.off)
	if err != nil && wb.failed == nil {
		wb.failed = err
	}
	if wb.changed != nil {
		close(wb.changed)
		wb.changed = nil
	}
}

// changedLocked returns the channel closed at the next release. Caller
// holds mu.
func (wb *writeback) changedLocked() chan struct{} {
	if wb.changed == nil {
		wb.changed = make(chan struct{})
	}
	return wb.changed
}

// drain sends the held write, if any, and waits until no WRITE of the
// file is in flight.
func (wb *writeback) drain(ctx context.Context) error {
	wb.mu.Lock()
	held := wb.detachLocked()
	wb.mu.Unlock()
	if err := wb.sendHeld(ctx, held); err != nil {
		return err
	}
	return wb.waitLocked(ctx, func() bool { return len(wb.inflight) == 0 && len(wb.waiting) == 0 })
}

// takeFailure returns (and forgets) the first failed asynchronous WRITE.
func (wb *writeback) takeFailure() error {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	err := wb.failed
	wb.failed = nil
	return err
}

// keep records a write the server may still lose, made as cred; the file
// becomes one a COMMIT can free memory from.
func (wb *writeback) keep(n *node, cred rpc.Cred, u uncommitted) {
	wb.mu.Lock()
	wb.pending = append(wb.pending, u)
	wb.bytes += len(u.data)
	wb.cred = cred
	n.fsys.dirty.add(n) // under mu, so that take cannot slip in between
	wb.mu.Unlock()
}

// lastCred is the user of the last write kept; ok is false when none is.
func (wb *writeback) lastCred() (rpc.Cred, bool) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.cred, len(wb.pending) > 0
}

func (wb *writeback) size() int {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.bytes
}

// take removes and returns the kept writes.
func (wb *writeback) take(n *node) []uncommitted {
	wb.mu.Lock()
	p := wb.pending
	wb.pending, wb.bytes = nil, 0
	n.fsys.dirty.remove(n)
	wb.mu.Unlock()
	return p
}

// putBack returns writes whose durability is still unknown (a COMMIT or
// resend failed), ahead of any kept since, so a later commit retries them.
func (wb *writeback) putBack(n *node, p []uncommitted) {
	wb.mu.Lock()
	for _, u := range p {
		wb.bytes += len(u.data)
	}
	wb.pending = append(p, wb.pending...)
	if len(wb.pending) > 0 {
		n.fsys.dirty.add(n)
	}
	wb.mu.Unlock()
}

// commit makes every write kept so far durable: COMMIT, then a FILE_SYNC
// resend of each write whose verifier differs from the COMMIT's. It
// returns nil only when all of them are on stable storage.
func (wb *writeback) commit(ctx context.Context, cred rpc.Cred, n *node) error {
	wb.commitMu.Lock()
	defer wb.commitMu.Unlock()
	if done, err := wb.syncHeld(ctx, n); done || err != nil {
		return err
	}
	if err := wb.drain(ctx); err != nil {
		return err
	}
	if err := wb.takeFailure(); err != nil {
		return err
	}
	p := wb.take(n)
	if len(p) == 0 {
		return nil
	}
	fsys := n.fsys
	fh := n.getFH()
	verf, err := fsys.sess.Commit(ctx, cred, fh, 0, 0)
	if err != nil {
		wb.putBack(n, p)
		return fmt.Errorf("COMMIT: %w", err)
	}
	for i, u := range p {
		if u.verf == verf {
			continue
		}
		if err := resend(ctx, fsys, cred, fh, u); err != nil {
			releaseAll(p[:i])
			wb.putBack(n, p[i:])
			return err
		}
	}
	releaseAll(p)
	return nil
}

// releaseAll lets go of the buffers of writes now durable.
func releaseAll(p []uncommitted) {
	for _, u := range p {
		u.buf.release()
	}
}

// resend writes u again with FILE_SYNC, after the server lost it. The open
// it was written under may be gone (a release after the last close), in
// which case the anonymous stateid still allows the write.
func resend(ctx context.Context, fsys *filesystem, cred rpc.Cred, fh nfsclient.FH, u uncommitted) error {
	stateid := u.stateid
	for done := 0; done < len(u.data); {
		res, err := fsys.sess.Write(ctx, cred, fh, stateid, u.off+uint64(done), u.data[done:], nfsclient.FileSync)
		if err != nil && stateid != nfsclient.AnonymousStateid {
			stateid = nfsclient.AnonymousStateid
			continue
		}
		if err != nil {
			return fmt.Errorf("resend lost write at %d: %w", u.off+uint64(done), err)
		}
		if res.Count == 0 {
			return fmt.Errorf("resend lost write at %d: no progress", u.off+uint64(done))
		}
		done += int(res.Count)
	}
	return nil
}
