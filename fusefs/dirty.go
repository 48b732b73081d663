package fusefs

import (
	"context"
	"sync"

	"go.uber.org/zap"
)

// dirtyFiles are the files whose writeback keeps uncommitted data: what
// a write waiting for the memory budget can free by committing it
// (budget.go). Its zero value is ready. Lock order: a file's
// writeback.mu, then mu.
type dirtyFiles struct {
	mu    sync.Mutex
	nodes map[*node]struct{}
}

func (d *dirtyFiles) add(n *node) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.nodes == nil {
		d.nodes = map[*node]struct{}{}
	}
	d.nodes[n] = struct{}{}
}

func (d *dirtyFiles) remove(n *node) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.nodes, n)
}

// largest is the file keeping the most uncommitted bytes, or nil.
func (d *dirtyFiles) largest() *node {
	d.mu.Lock()
	nodes := make([]*node, 0, len(d.nodes))
	for n := range d.nodes {
		nodes = append(nodes, n)
	}
	d.mu.Unlock()
	var best *node
	bestSize := 0
	for _, n := range nodes { // size takes the file's lock: not under d.mu
		if s := n.wb.size(); s > bestSize {
			best, bestSize = n, s
		}
	}
	return best
}

// relieve commits the file with the most uncommitted data, as the user
// who last wrote it, so that its buffers go back to the budget. It
// reports whether it freed anything.
func (fsys *filesystem) relieve(ctx context.Context) bool {
	n := fsys.dirty.largest()
	if n == nil {
		return false
	}
	cred, ok := n.wb.lastCred()
	if !ok {
		return false
	}
	if err := n.wb.commit(ctx, cred, n); err != nil {
		// The file's own close or fsync will report it; here it
		// only means nothing was freed.
		fsys.log.Debug("COMMIT for memory failed", zap.Uint64("ino", n.StableAttr().Ino), zap.Error(err))
		return false
	}
	return true
}
