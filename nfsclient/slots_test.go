package nfsclient

import (
	"context"
	"testing"
	"time"
)

func TestSlots(t *testing.T) {
	t.Run("FirstSeqidIsOne", func(t *testing.T) {
		st := newSlotTable(2)
		g, err := st.acquire(context.Background())
		if err != nil || g.id != 0 || g.seqid != 1 {
			t.Fatalf("acquire = %+v, %v", g, err)
		}
	})
	t.Run("OneRequestPerSlot", func(t *testing.T) {
		st := newSlotTable(2)
		a, _ := st.acquire(context.Background())
		b, _ := st.acquire(context.Background())
		if a.id == b.id {
			t.Fatalf("two requests on slot %d", a.id)
		}
		if b.highest != 1 {
			t.Fatalf("highest slot in use = %d, want 1", b.highest)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := st.acquire(ctx); err == nil {
			t.Fatal("third acquire on a two-slot table succeeded")
		}
	})
	t.Run("SeqidMovesOnlyAfterSuccess", func(t *testing.T) {
		st := newSlotTable(1)
		g, _ := st.acquire(context.Background())
		st.release(g.id, false)
		g2, _ := st.acquire(context.Background())
		if g2.seqid != g.seqid {
			t.Fatalf("seqid moved without a successful SEQUENCE: %d -> %d", g.seqid, g2.seqid)
		}
		st.release(g2.id, true)
		g3, _ := st.acquire(context.Background())
		if g3.seqid != g.seqid+1 {
			t.Fatalf("seqid after success = %d, want %d", g3.seqid, g.seqid+1)
		}
	})
	t.Run("WaiterWokenByRelease", func(t *testing.T) {
		st := newSlotTable(1)
		g, _ := st.acquire(context.Background())
		got := make(chan slotGrant)
		go func() {
			g2, err := st.acquire(context.Background())
			if err != nil {
				t.Error(err)
			}
			got <- g2
		}()
		time.Sleep(10 * time.Millisecond)
		st.release(g.id, true)
		select {
		case g2 := <-got:
			if g2.seqid != 2 {
				t.Fatalf("seqid = %d, want 2", g2.seqid)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiter never woken")
		}
	})
	t.Run("TargetHighestSlotid", func(t *testing.T) {
		st := newSlotTable(4)
		st.setTarget(0)
		a, _ := st.acquire(context.Background())
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, err := st.acquire(ctx); err == nil {
			t.Fatal("acquired a slot beyond target_highest_slotid")
		}
		st.setTarget(99) // never beyond the granted table
		b, err := st.acquire(context.Background())
		if err != nil || b.id == a.id || b.id > 3 {
			t.Fatalf("after raising the target: %+v, %v", b, err)
		}
	})
}
