package watchdog

import (
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// prober runs one statfs at a time for a mount, in its own goroutine: the
// call may block in the kernel for as long as the mount is hung, and the
// mount's loop must keep deciding meanwhile.
type prober struct {
	w *Watchdog

	mu       sync.Mutex
	gen      int // results of probes started before a reset are dropped
	inFlight bool
	started  time.Time
	ready    bool
	res      Probe
	errStr   string
	// wake tells the mount's loop a result is ready, so it is acted on
	// (and a recovery logged) at once rather than at the next tick.
	wake chan struct{}
}

func (p *prober) start(path string, now time.Time) {
	p.mu.Lock()
	if p.inFlight {
		p.mu.Unlock()
		return
	}
	p.inFlight, p.started = true, now
	gen := p.gen
	p.mu.Unlock()
	p.w.probes.Add(1)
	go func() {
		defer p.w.probes.Done()
		err := p.w.o.Statfs(path)
		p.mu.Lock()
		defer p.mu.Unlock()
		if gen != p.gen {
			return
		}
		p.inFlight, p.ready = false, true
		p.res, p.errStr = classify(err), ""
		if err != nil {
			p.errStr = err.Error()
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}()
}

// result returns a finished probe's outcome once, ProbeHung while one has
// been in flight for timeout or more, else ProbeNone.
func (p *prober) result(now time.Time, timeout time.Duration) (res Probe, errStr string, inFlight bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.ready:
		p.ready = false
		return p.res, p.errStr, p.inFlight
	case p.inFlight && now.Sub(p.started) >= timeout:
		return ProbeHung, "", true
	}
	return ProbeNone, "", p.inFlight
}

// reset forgets probes of a mount that was just replaced: their ENOTCONN
// is about the old one.
func (p *prober) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.inFlight, p.ready = false, false
}

func classify(err error) Probe {
	switch {
	case err == nil:
		return ProbeOK
	case errors.Is(err, unix.ENOTCONN):
		return ProbeNotConnected
	}
	return ProbeFailed
}
