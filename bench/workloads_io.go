package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// seqWrite writes the large file from start to end, then fsyncs and
// closes it; the figure includes both, so that write-back which merely
// defers the work until close gains nothing.
func seqWrite(ctx context.Context, e *env, p Params) (measure, error) {
	start := e.begin()
	f, err := e.path.Create(ctx, bigFile)
	if err != nil {
		return measure{}, err
	}
	lat, err := stream(ctx, f, p.FileSize, p.Block, e.path.Depth(), true)
	if err == nil {
		err = f.Sync(ctx)
	}
	if cerr := f.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return measure{}, fmt.Errorf("write %s: %w", bigFile, err)
	}
	return measure{ops: p.FileSize / int64(p.Block), bytes: p.FileSize, elapsed: e.end(start), lat: lat}, nil
}

// seqRead reads the large file from start to end (cold or warm).
func seqRead(ctx context.Context, e *env, p Params) (measure, error) {
	if err := e.ensureFile(ctx, bigFile, p.FileSize); err != nil {
		return measure{}, err
	}
	how, note := Cached, "warm: read right after the previous read or write"
	if p.Cold {
		var err error
		if how, note, err = e.cold(); err != nil {
			return measure{}, err
		}
	}
	if p.WarmServer {
		warmed, err := e.warmServer(ctx, bigFile, p.FileSize, p.Block)
		if err != nil {
			return measure{}, err
		}
		note += "; " + warmed
	}
	if w, ok := e.path.(wholeReader); ok {
		start := e.begin()
		n, err := w.ReadWhole(ctx, bigFile)
		elapsed := e.end(start)
		if err == nil && n != p.FileSize {
			err = fmt.Errorf("read %d of %d bytes", n, p.FileSize)
		}
		if err != nil {
			return measure{}, fmt.Errorf("read %s: %w", bigFile, err)
		}
		return measure{ops: 1, bytes: n, elapsed: elapsed, note: note}, nil
	}
	start := e.begin()
	f, err := e.path.Open(ctx, bigFile, how)
	if err != nil {
		return measure{}, err
	}
	lat, err := stream(ctx, f, p.FileSize, p.Block, e.path.Depth(), false)
	if cerr := f.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return measure{}, fmt.Errorf("read %s: %w", bigFile, err)
	}
	return measure{ops: p.FileSize / int64(p.Block), bytes: p.FileSize, elapsed: e.end(start), lat: lat, note: note}, nil
}

// wholeReader is a path that reads only whole files, with a tool of its
// own (libnfs-stunnel): its sequential reads are one call, with no
// per-block latency.
type wholeReader interface {
	ReadWhole(ctx context.Context, name string) (int64, error)
}

// stream moves size bytes in blocks from offset 0 up with depth blocks in
// flight (workers taking the next block in turn), recording each block's
// latency.
func stream(ctx context.Context, f File, size int64, block, depth int, write bool) (hist, error) {
	var next atomic.Int64
	work := func(h *hist) error {
		buf := pattern(block)
		for {
			off := next.Add(int64(block)) - int64(block)
			if off >= size {
				return nil
			}
			b := buf[:min(int64(block), size-off)]
			t0 := time.Now()
			var n int
			var err error
			if write {
				n, err = f.WriteAt(ctx, b, off)
			} else {
				n, err = f.ReadAt(ctx, b, off)
			}
			h.add(time.Since(t0))
			if err != nil {
				return fmt.Errorf("at offset %d: %w", off, err)
			}
			if n != len(b) {
				return fmt.Errorf("at offset %d: %d of %d bytes", off, n, len(b))
			}
		}
	}
	return parallel(ctx, depth, work)
}

// parallel runs work on n goroutines, each with its own histogram, waits
// for all of them and merges their histograms. A failing worker cancels
// the others through ctx only if work honours it; the first error wins.
func parallel(ctx context.Context, n int, work func(h *hist) error) (hist, error) {
	hs := make([]hist, max(n, 1))
	errs := make([]error, len(hs))
	var wg sync.WaitGroup
	for i := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = work(&hs[i])
		}()
	}
	wg.Wait()
	var all hist
	for i := range hs {
		all.merge(&hs[i])
	}
	return all, errors.Join(errs...)
}

// randRead reads random block-aligned 4 KiB pieces of the large file from
// p.Threads workers sharing one open file, for p.Duration.
func randRead(ctx context.Context, e *env, p Params) (measure, error) {
	if err := e.ensureFile(ctx, bigFile, p.FileSize); err != nil {
		return measure{}, err
	}
	how, note := Cached, ""
	if p.Cold {
		var err error
		if how, note, err = e.cold(); err != nil {
			return measure{}, err
		}
	}
	if p.WarmServer {
		warmed, err := e.warmServer(ctx, bigFile, p.FileSize, p.Block)
		if err != nil {
			return measure{}, err
		}
		note += "; " + warmed
	}
	if p.Direct {
		// Without it a mount's read-ahead pulls the whole file into its
		// page cache within a second, and the figure would be memcpy's.
		how = Direct
		note += "; O_DIRECT on mounts"
	}
	f, err := e.path.Open(ctx, bigFile, how)
	if err != nil {
		return measure{}, err
	}
	defer f.Close(ctx)
	blocks := p.FileSize / int64(p.Block)
	var seed atomic.Uint64
	start := e.begin()
	deadline := start.Add(p.Duration)
	lat, err := parallel(ctx, p.Threads, func(h *hist) error {
		rng := rand.New(rand.NewPCG(seed.Add(1), 0x9e3779b97f4a7c15))
		buf := alignedBuf(p.Block)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			off := rng.Int64N(blocks) * int64(p.Block)
			t0 := time.Now()
			n, err := f.ReadAt(ctx, buf, off)
			h.add(time.Since(t0))
			if err != nil || n != len(buf) {
				return fmt.Errorf("read %s at %d: %d bytes, %w", bigFile, off, n, err)
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return measure{}, err
	}
	return measure{ops: int64(lat.n), bytes: int64(lat.n) * int64(p.Block), elapsed: e.end(start), lat: lat, note: note}, nil
}

// randWrite writes random 4 KiB pieces of a file, each followed by fsync
// (a database's commit pattern), for p.Duration. Latency is write+fsync.
func randWrite(ctx context.Context, e *env, p Params) (measure, error) {
	if err := e.ensureFile(ctx, randFile, p.FileSize); err != nil {
		return measure{}, err
	}
	f, err := e.path.OpenRW(ctx, randFile)
	if err != nil {
		return measure{}, err
	}
	blocks := p.FileSize / int64(p.Block)
	start := e.begin()
	deadline := start.Add(p.Duration)
	lat, err := parallel(ctx, p.Threads, func(h *hist) error {
		rng := rand.New(rand.NewPCG(1, 2))
		buf := pattern(p.Block)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			off := rng.Int64N(blocks) * int64(p.Block)
			t0 := time.Now()
			if _, err := f.WriteAt(ctx, buf, off); err != nil {
				return fmt.Errorf("write %s at %d: %w", randFile, off, err)
			}
			if err := f.Sync(ctx); err != nil {
				return fmt.Errorf("fsync %s: %w", randFile, err)
			}
			h.add(time.Since(t0))
		}
		return ctx.Err()
	})
	if cerr := f.Close(ctx); err == nil {
		err = cerr
	}
	if err != nil {
		return measure{}, err
	}
	return measure{ops: int64(lat.n), bytes: int64(lat.n) * int64(p.Block), elapsed: e.end(start), lat: lat}, nil
}
