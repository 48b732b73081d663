package fusefs

import (
	"sync/atomic"
	"testing"
	"time"
)

// The trimmer frees memory once per idle period that follows I/O: not
// while I/O goes on, not again while idle, and it stops when told.
func TestTrimmerFreesOnceWhenIdle(t *testing.T) {
	var calls atomic.Int32
	oldIdle, oldFree := trimIdle, freeOSMemory
	// Ticks far apart compared with the I/O below, so a test goroutine
	// descheduled for a while (-race, a loaded machine) is not "idle".
	trimIdle, freeOSMemory = 100*time.Millisecond, func() { calls.Add(1) }
	defer func() { trimIdle, freeOSMemory = oldIdle, oldFree }()

	var released atomic.Int32
	tr := trimmer{release: func() { released.Add(1) }}
	tr.start()
	defer tr.stop()
	time.Sleep(300 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d trims with no I/O at all", n)
	}
	busy := time.Now().Add(400 * time.Millisecond)
	for time.Now().Before(busy) {
		tr.noteIO()
		time.Sleep(2 * time.Millisecond)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d trims during I/O", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond) // several idle periods
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d trims after one burst of I/O, want 1", n)
	}
	if n := released.Load(); n != 1 {
		t.Errorf("free buffers let go %d times after one burst of I/O, want 1 (with the trim)", n)
	}
	tr.stop()
	tr.stop()
}
