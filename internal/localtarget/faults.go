package localtarget

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Network faults between clients and the mount target, applied by the front
// end's chunk hook and accept gate. They need no goroutine of their own: a
// fault is a deadline, and each relay pump waits on it while it holds a
// chunk. Replacing the fault state (a new fault, Heal) wakes every waiter to
// look again; Close wakes them through the front end's context.

// faultState is immutable once published; set replaces it as a whole.
type faultState struct {
	blackholeUntil time.Time     // zero or past: no black hole
	latency        time.Duration // added to each chunk until delayUntil
	delayUntil     time.Time
	replaced       chan struct{} // closed when a newer state is published
}

func (s *faultState) blackholed(now time.Time) bool { return now.Before(s.blackholeUntil) }
func (s *faultState) delayed(now time.Time) bool {
	return s.latency > 0 && now.Before(s.delayUntil)
}

// streamKey names one direction of one relayed connection.
type streamKey struct {
	conn uint64
	dir  direction
}

// burst tracks one stream under a delay, so back-to-back chunks are
// delayed together rather than one latency each (see wait).
type burst struct {
	arrival time.Time // estimated arrival of the chunk last released
	release time.Time // when it was released
}

type faults struct {
	mu    sync.Mutex // serialises set; readers only Load
	state atomic.Pointer[faultState]
	// bursts: streamKey -> *burst, only while a delay is on; cleared on
	// every set so entries of ended connections do not pile up. Each key
	// is used by its own pump goroutine only.
	bursts sync.Map
}

func (f *faults) init() { f.state.Store(&faultState{replaced: make(chan struct{})}) }

// set publishes the state edit makes of a copy of the current one.
func (f *faults) set(edit func(s *faultState)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.state.Load()
	next := &faultState{blackholeUntil: old.blackholeUntil, latency: old.latency, delayUntil: old.delayUntil, replaced: make(chan struct{})}
	edit(next)
	f.state.Store(next)
	f.bursts.Clear()
	close(old.replaced)
}

// waitBlackhole returns once no black hole is on (nil) or ctx ends.
func (f *faults) waitBlackhole(ctx context.Context) error {
	for {
		s := f.state.Load()
		now := time.Now()
		if !s.blackholed(now) {
			return nil
		}
		if err := sleepUntil(ctx, s.blackholeUntil, s.replaced); err != nil {
			return err
		}
	}
}

// wait holds one chunk of stream k as the faults demand: through a black
// hole (its bytes are kept and released after, as TCP retransmission would
// deliver them), then for the latency of a delay.
//
// A delay models propagation, not bandwidth: the pump cannot read the next
// chunk while it holds this one, so a chunk read right after the previous
// release (it was waiting in the socket) is taken to have arrived with that
// previous chunk and is released with it, not one more latency later.
func (f *faults) wait(ctx context.Context, k streamKey) error {
	if err := f.waitBlackhole(ctx); err != nil {
		return err
	}
	for {
		s := f.state.Load()
		now := time.Now()
		if s.blackholed(now) {
			if err := f.waitBlackhole(ctx); err != nil {
				return err
			}
			continue
		}
		if !s.delayed(now) {
			return nil
		}
		arrival := now
		if v, ok := f.bursts.Load(k); ok {
			if b := v.(*burst); now.Sub(b.release) < burstGap {
				arrival = b.arrival
			}
		}
		release := arrival.Add(s.latency)
		if err := sleepUntil(ctx, release, s.replaced); err != nil {
			return err
		}
		if time.Now().Before(release) {
			continue // the faults changed (Heal, a new fault): look again
		}
		f.bursts.Store(k, &burst{arrival: arrival, release: time.Now()})
		return nil
	}
}

// burstGap: a chunk read within this time of the previous release was
// already queued in the socket while the pump held the previous one.
const burstGap = 2 * time.Millisecond

// sleepUntil waits until t, until changed is closed (nil: the faults were
// replaced, caller looks again) or until ctx ends (its error).
func sleepUntil(ctx context.Context, t time.Time, changed <-chan struct{}) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// installFaultHooks plugs the faults into the front end. The hooks cost one
// atomic load per chunk while no fault is on.
func (t *Target) installFaultHooks() {
	filter := chunkFilter(func(ctx context.Context, connID uint64, dir direction, p []byte) ([]byte, error) {
		if err := t.faults.wait(ctx, streamKey{connID, dir}); err != nil {
			return nil, err
		}
		return p, nil
	})
	gate := acceptGate(t.faults.waitBlackhole)
	t.front.filter.Store(&filter)
	t.front.gate.Store(&gate)
}

// Blackhole makes the network between clients and the target silent for d:
// every client connection stops passing bytes both ways, and new connections
// are accepted (the kernel completes TCP's handshake) but their TLS
// handshake gets no answer. Bytes in flight are held, not dropped, and
// delivered when the black hole ends, as TCP's retransmission would after
// a network outage. Nothing is closed: clients notice only by their own
// timeouts. A later call replaces the end time; Heal ends it early.
// CutConnections and RestartGanesha still close connections at once; a
// relay goroutine holding a chunk then ends with the black hole (or Close).
func (t *Target) Blackhole(d time.Duration) {
	until := time.Now().Add(d)
	t.faults.set(func(s *faultState) { s.blackholeUntil = until })
	t.log.Info("fault: black hole", zap.Duration("duration", d), zap.Time("until", until))
}

// Delay adds latency to every chunk relayed in either direction (so a
// round trip gains about twice latency) for d. A later call replaces it;
// Heal ends it early.
func (t *Target) Delay(latency, d time.Duration) {
	until := time.Now().Add(d)
	t.faults.set(func(s *faultState) { s.latency, s.delayUntil = latency, until })
	t.log.Info("fault: delay", zap.Duration("latency", latency), zap.Duration("duration", d), zap.Time("until", until))
}

// Heal ends any black hole or delay now; held bytes flow at once.
func (t *Target) Heal() {
	t.faults.set(func(s *faultState) { *s = faultState{replaced: s.replaced} })
	t.log.Info("fault: healed")
}
