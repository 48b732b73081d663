package fusefs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A write waits while the budget is full and goes on at the next
// uncharge; its context ends the wait.
func TestBudgetWaitsForRoom(t *testing.T) {
	b := newBudget(4 << 20)
	b.charge(4 << 20)
	done := make(chan error, 1)
	go func() { done <- b.wait(context.Background(), nil) }()
	select {
	case err := <-done:
		t.Fatalf("wait returned (%v) with the budget full", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.uncharge(1 << 20)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not end when room was made")
	}
	b.charge(1 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := b.wait(ctx, nil); err == nil {
		t.Error("wait on a full budget returned nil when its context ended")
	}
	if used, peak := b.stats(); used != 4<<20 || peak != 4<<20 {
		t.Errorf("stats = %d, %d; want 4 MiB held, 4 MiB peak", used, peak)
	}
}

// A budget that nothing frees (a leak, data whose COMMIT keeps failing)
// holds a write back for budgetStall only, never for good.
func TestBudgetStallIsBounded(t *testing.T) {
	old := budgetStall
	budgetStall = 100 * time.Millisecond
	defer func() { budgetStall = old }()
	b := newBudget(1 << 20)
	b.charge(1 << 20)
	start := time.Now()
	if err := b.wait(context.Background(), func(context.Context) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < budgetStall || took > 5*time.Second {
		t.Errorf("a write waited %v on a budget nothing frees, want about %v", took, budgetStall)
	}
}

// A full budget asks relieve to free memory (a COMMIT) rather than wait
// for someone else to: writers whose data waits only for a COMMIT would
// otherwise wait for each other forever.
func TestBudgetRelieves(t *testing.T) {
	b := newBudget(2 << 20)
	b.charge(3 << 20)
	var calls atomic.Int32
	relieve := func(context.Context) bool {
		calls.Add(1)
		b.uncharge(2 << 20)
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.wait(ctx, relieve); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("relieve called %d times, want 1", n)
	}
}

// Read-ahead takes only its share of the budget and never waits.
func TestBudgetReadAheadShare(t *testing.T) {
	b := newBudget(8 << 20)
	n := 0
	for b.tryCharge(1 << 20) {
		n++
	}
	if want := 8 * raShareNum / raShareDen; n != want {
		t.Errorf("read-ahead took %d MiB of 8, want %d", n, want)
	}
	if b.full() {
		t.Error("read-ahead alone filled the budget: writers would wait for readers")
	}
}
