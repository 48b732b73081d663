package fusefs

import (
	"context"
	"sync"
	"time"
)

// The memory budget: one bound on the bytes a mount holds for I/O, across
// all its files, for write-behind and read-ahead together.
//
// Write data is held from the FUSE WRITE that copies it until the server
// has it on stable storage (a COMMIT), read-ahead data from its READ until
// the reader consumed it. Per-file windows alone bounded neither: eight
// files written at once held up to eight times 80 MiB, and an fsstress
// run peaked at 649 MB. So every such buffer is charged to the mount's
// budget, and:
//
//   - a write waits while the budget is full (back-pressure on the
//     application, as the kernel's dirty-page limit does), and the wait
//     commits the file with the most uncommitted data, whose buffers are
//     then freed: data kept only for a COMMIT that nobody asked for yet
//     must not starve everyone;
//   - read-ahead takes from the budget only up to raShare of it and never
//     waits: a prefetch that does not fit is simply not made, and a file
//     read ahead cannot keep writers waiting.
//
// A write charges its buffer after the wait, so concurrent writes can pass
// the limit by one buffer each (bounded by the FUSE requests in flight).
const (
	// defaultBudget: enough for a writer's 16 MiB write-behind window
	// and a COMMIT every few dozen MiB, and for read-ahead windows of
	// several readers at once, while keeping the daemon's RSS within
	// 200 MiB under any load (the buffers are held twice at worst: the
	// copy and its encoded WRITE record).
	defaultBudget = 64 << 20
	// raShareNum/raShareDen is the part of the budget read-ahead may use.
	raShareNum, raShareDen = 3, 4
)

// memBudget is a mount's budget. Its zero value is unusable: see newBudget.
type memBudget struct {
	limit int64

	mu      sync.Mutex
	used    int64
	peak    int64         // highest used so far, for tests and statistics
	changed chan struct{} // closed and replaced when used falls
}

func newBudget(limit int64) *memBudget {
	if limit <= 0 {
		limit = defaultBudget
	}
	return &memBudget{limit: limit}
}

// charge adds n bytes held, without waiting (see wait).
func (b *memBudget) charge(n int64) {
	b.mu.Lock()
	b.used += n
	b.peak = max(b.peak, b.used)
	b.mu.Unlock()
}

// tryCharge adds n bytes if that keeps the budget within its read-ahead
// share, and reports whether it did.
func (b *memBudget) tryCharge(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit/raShareDen*raShareNum {
		return false
	}
	b.used += n
	b.peak = max(b.peak, b.used)
	return true
}

// uncharge gives n bytes back and wakes the writes waiting for room.
func (b *memBudget) uncharge(n int64) {
	b.mu.Lock()
	b.used -= n
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	b.mu.Unlock()
}

// full reports whether a write would have to wait.
func (b *memBudget) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used >= b.limit
}

// budgetStall bounds how long one write waits for room. Room normally
// comes within a COMMIT's round trip; what never frees (data of a file
// whose COMMIT keeps failing, say one removed by another client) must
// not stop every writer of the mount for good, so past this a write goes
// on and the budget is exceeded for it. A variable for the tests.
var budgetStall = 5 * time.Second

// wait returns once the budget has room, budgetStall has passed, or ctx
// ends. While it is full it calls relieve (if not nil) to free something,
// and waits for the next uncharge when relieve found nothing to free or
// failed.
func (b *memBudget) wait(ctx context.Context, relieve func(context.Context) bool) error {
	stall := time.NewTimer(budgetStall)
	defer stall.Stop()
	for {
		b.mu.Lock()
		if b.used < b.limit {
			b.mu.Unlock()
			return nil
		}
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		ch := b.changed
		b.mu.Unlock()
		if relieve != nil && relieve(ctx) {
			continue
		}
		select {
		case <-ch:
		case <-stall.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stats returns the bytes held now and the most ever held.
func (b *memBudget) stats() (used, peak int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak
}

// MemoryStats returns the bytes of write-behind and read-ahead data the
// mount holds now and the most it has held at once (its budget bounds
// both, give or take one buffer per write in progress).
func (s *Server) MemoryStats() (held, peak int64) { return s.fsys.budget.stats() }
