package nfsclient

import (
	"context"
	"sync"
)

// slotTable is the client side of an NFSv4.1 session's fore channel slot
// table (RFC 8881 section 2.10.6.1). Each slot carries at most one request
// at a time; its sequence id moves forward only after a reply whose SEQUENCE
// succeeded, so that a resend of an unanswered request reuses the same
// (slot, seqid) and hits the server's reply cache instead of running twice.
type slotTable struct {
	mu      sync.Mutex
	seqids  []uint32 // next sequence id to send on each slot
	busy    []bool   // slot has a request without a final reply
	limit   int      // slots usable now: target_highest_slotid+1, at most len(seqids)
	waiters []chan struct{}
}

func newSlotTable(n int) *slotTable {
	if n < 1 {
		n = 1
	}
	t := &slotTable{seqids: make([]uint32, n), busy: make([]bool, n), limit: n}
	for i := range t.seqids {
		t.seqids[i] = 1 // RFC 8881 section 2.10.6.1: the first request on a slot uses seqid 1
	}
	return t
}

// slotGrant is one reserved slot.
type slotGrant struct {
	id, seqid, highest uint32
}

// acquire reserves the lowest free usable slot, waiting while all are busy.
func (t *slotTable) acquire(ctx context.Context) (slotGrant, error) {
	for {
		t.mu.Lock()
		for i := 0; i < t.limit; i++ {
			if !t.busy[i] {
				t.busy[i] = true
				g := slotGrant{id: uint32(i), seqid: t.seqids[i], highest: t.highestBusyLocked()}
				t.mu.Unlock()
				return g, nil
			}
		}
		ch := make(chan struct{})
		t.waiters = append(t.waiters, ch)
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.mu.Lock()
			t.removeWaiterLocked(ch)
			t.mu.Unlock()
			// We may have been woken just as ctx ended: pass the
			// wake-up on so no free slot is left unnoticed.
			t.wakeOne()
			return slotGrant{}, ctx.Err()
		}
	}
}

// release frees slot id. advanced reports that the server processed the
// request's SEQUENCE, which moves the slot's sequence id on.
func (t *slotTable) release(id uint32, advanced bool) {
	t.mu.Lock()
	if advanced {
		t.seqids[id]++
	}
	t.busy[id] = false
	t.mu.Unlock()
	t.wakeOne()
}

// setTarget applies the server's target_highest_slotid (RFC 8881 section
// 2.10.6.1): requests beyond it should not be sent. It never grows the
// table past what CREATE_SESSION granted.
func (t *slotTable) setTarget(target uint32) {
	t.mu.Lock()
	n := int(target) + 1
	if n > len(t.seqids) || n < 1 {
		n = len(t.seqids)
	}
	grew := n > t.limit
	t.limit = n
	t.mu.Unlock()
	if grew {
		t.wakeAll()
	}
}

func (t *slotTable) highestBusyLocked() uint32 {
	for i := len(t.busy) - 1; i >= 0; i-- {
		if t.busy[i] {
			return uint32(i)
		}
	}
	return 0
}

func (t *slotTable) removeWaiterLocked(ch chan struct{}) {
	for i, w := range t.waiters {
		if w == ch {
			t.waiters = append(t.waiters[:i], t.waiters[i+1:]...)
			return
		}
	}
}

func (t *slotTable) wakeOne() {
	t.mu.Lock()
	var ch chan struct{}
	if len(t.waiters) > 0 {
		ch = t.waiters[0]
		t.waiters = t.waiters[1:]
	}
	t.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

func (t *slotTable) wakeAll() {
	t.mu.Lock()
	ws := t.waiters
	t.waiters = nil
	t.mu.Unlock()
	for _, ch := range ws {
		close(ch)
	}
}
