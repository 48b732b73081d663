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
// early when a file has more than maxUncommitted bytes kept, which bounds
// the memory a big sequential write holds.
//
// Known limit: a resent write can overwrite a newer overlapping write
// that completed after the COMMIT's snapshot was taken. The kernel does
// not normally send overlapping concurrent writes for one file.

// maxUncommitted is how much data one file may keep uncommitted before a
// write COMMITs early: 64 MiB is ~64 round trips of 1 MiB WRITEs, enough
// to keep the server's write-back streaming, and bounds memory per file.
const maxUncommitted = 64 << 20

// writeback is the uncommitted writes of one file. Its zero value is ready.
type writeback struct {
	// commitMu serializes COMMITs (and their resends) of the file; it is
	// held across RPCs. Take it before mu.
	commitMu sync.Mutex

	mu      sync.Mutex // guards pending and bytes
	pending []uncommitted
	bytes   int
}

// uncommitted is one UNSTABLE WRITE the server acknowledged but may lose.
type uncommitted struct {
	off     uint64
	data    []byte
	verf    [8]byte
	stateid nfsclient.Stateid
}

// write sends data at off in WRITEs of at most the session's size and
// keeps what the server took UNSTABLE. It returns how many bytes the
// server accepted.
func (wb *writeback) write(ctx context.Context, cred rpc.Cred, n *node, stateid nfsclient.Stateid, data []byte, off uint64) (int, error) {
	fsys := n.fsys
	fh := n.getFH()
	done := 0
	for done < len(data) {
		chunk := data[done:min(len(data), done+fsys.maxIO)]
		res, err := fsys.sess.Write(ctx, cred, fh, stateid, off+uint64(done), chunk, nfsclient.Unstable)
		if err != nil {
			return done, err
		}
		if res.Count == 0 {
			return done, fmt.Errorf("WRITE at %d made no progress", off+uint64(done))
		}
		if res.Committed == nfsclient.Unstable {
			wb.keep(uncommitted{
				off: off + uint64(done), data: append([]byte(nil), chunk[:res.Count]...),
				verf: res.Verifier, stateid: stateid,
			})
		}
		done += int(res.Count)
	}
	if wb.size() > maxUncommitted {
		if err := wb.commit(ctx, cred, n); err != nil {
			return done, err
		}
	}
	return done, nil
}

func (wb *writeback) keep(u uncommitted) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	wb.pending = append(wb.pending, u)
	wb.bytes += len(u.data)
}

func (wb *writeback) size() int {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.bytes
}

// take removes and returns the kept writes.
func (wb *writeback) take() []uncommitted {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	p := wb.pending
	wb.pending, wb.bytes = nil, 0
	return p
}

// putBack returns writes whose durability is still unknown (a COMMIT or
// resend failed), ahead of any kept since, so a later commit retries them.
func (wb *writeback) putBack(p []uncommitted) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	for _, u := range p {
		wb.bytes += len(u.data)
	}
	wb.pending = append(p, wb.pending...)
}

// commit makes every write kept so far durable: COMMIT, then a FILE_SYNC
// resend of each write whose verifier differs from the COMMIT's. It
// returns nil only when all of them are on stable storage.
func (wb *writeback) commit(ctx context.Context, cred rpc.Cred, n *node) error {
	wb.commitMu.Lock()
	defer wb.commitMu.Unlock()
	p := wb.take()
	if len(p) == 0 {
		return nil
	}
	fsys := n.fsys
	fh := n.getFH()
	verf, err := fsys.sess.Commit(ctx, cred, fh, 0, 0)
	if err != nil {
		wb.putBack(p)
		return fmt.Errorf("COMMIT: %w", err)
	}
	for i, u := range p {
		if u.verf == verf {
			continue
		}
		if err := resend(ctx, fsys, cred, fh, u); err != nil {
			wb.putBack(p[i:])
			return err
		}
	}
	return nil
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
