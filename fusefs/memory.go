package fusefs

import (
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Memory after a burst of I/O: a sequential read holds up to 64 MiB of
// read-ahead and a writer up to 16 MiB in flight, all freed when it ends,
// but the Go runtime keeps freed heap for reuse and gives it back to the
// OS only slowly: a mount that had read 1 GiB sat at ~60 MiB RSS for
// minutes, doing nothing. So once a mount has been idle for trimIdle
// after some I/O, it returns its free memory at once (two GCs: see run),
// and again only after more I/O.
var (
	trimIdle     = 10 * time.Second
	freeOSMemory = debug.FreeOSMemory // a test counts the calls
)

// trimmer runs the idle check; owned by the Server, ended by stop.
type trimmer struct {
	io       atomic.Uint64 // READs and WRITEs served, bumped by the handles
	release  func()        // lets go of the mount's own free lists; nil for none
	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

func (t *trimmer) noteIO() { t.io.Add(1) }

func (t *trimmer) start() {
	t.quit = make(chan struct{})
	t.done = make(chan struct{})
	go t.run()
}

func (t *trimmer) run() {
	defer close(t.done)
	tick := time.NewTicker(trimIdle)
	defer tick.Stop()
	last := t.io.Load()
	trimmed := last
	for {
		select {
		case <-t.quit:
			return
		case <-tick.C:
		}
		cur := t.io.Load()
		if cur == last && cur != trimmed {
			// The buffer pools (sync.Pool) keep what one GC
			// frees in a victim cache until the next: the first
			// GC empties them, FreeOSMemory's own then frees
			// their buffers and returns the memory.
			if t.release != nil {
				t.release()
			}
			runtime.GC()
			freeOSMemory()
			trimmed = cur
		}
		last = cur
	}
}

// stop ends the check and waits for it; safe to call more than once.
func (t *trimmer) stop() {
	t.stopOnce.Do(func() {
		if t.quit != nil {
			close(t.quit)
			<-t.done
		}
	})
}
