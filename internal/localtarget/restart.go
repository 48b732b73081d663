package localtarget

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
)

// RestartOptions says how RestartGanesha restarts the server.
type RestartOptions struct {
	// Grace starts the new ganesha with a grace period of
	// Options.GraceSeconds: clients it knows from the recovery directory
	// must reclaim (CLAIM_PREVIOUS) and everyone else's OPEN and LOCK get
	// NFS4ERR_GRACE until the period ends or every known client has sent
	// RECLAIM_COMPLETE. Without it the new ganesha is graceless, like the
	// first start by default: old state is simply gone.
	Grace bool
	// Kill stops the old ganesha with SIGKILL, as a crash would, instead of
	// SIGTERM (an orderly shutdown).
	Kill bool
}

// relaunchAttempts: ganesha may fail to bind the port the old process has
// just released; a short pause then fixes it.
const (
	relaunchAttempts = 3
	relaunchPause    = 500 * time.Millisecond
)

// RestartGanesha stops ganesha and starts it again on the same port with
// the same export and recovery directory, so the new process sees the
// client records of the old one: a real server restart that clients must
// recover from. Every client connection through the front end is cut (their
// ganesha side died anyway); new ones work once it returns. Faults stay as
// they are. ctx bounds the restart; Close interrupts it.
//
// If the new ganesha cannot start, the target is dead: Done is closed and
// the error returned.
func (t *Target) RestartGanesha(ctx context.Context, o RestartOptions) error {
	t.restartMu.Lock()
	defer t.restartMu.Unlock()
	if t.closing.Load() {
		return errors.New("local target: restart ganesha: target is closed")
	}
	old := t.current.Load()
	if old == nil {
		return errors.New("local target: restart ganesha: ganesha is not running (an earlier restart failed)")
	}
	select {
	case <-old.exited:
		return errors.New("local target: restart ganesha: ganesha already exited")
	default:
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(t.life, cancel)()

	// From here the old process's exit is ours, not a failure of the target.
	t.current.Store(nil)
	start := time.Now()
	stop := old.stop
	if o.Kill {
		stop = old.kill
	}
	if err := stop(); err != nil {
		t.markDone()
		return fmt.Errorf("local target: restart ganesha: %w", err)
	}
	cut := t.front.cutAll()
	stopped := time.Since(start)

	var err error
	for i := 0; i < relaunchAttempts; i++ {
		if i > 0 {
			if serr := sleepUntil(ctx, time.Now().Add(relaunchPause), nil); serr != nil {
				break
			}
		}
		var g *ganesha
		if g, err = t.launchGanesha(ctx, old.port, o.Grace); err == nil {
			t.log.Info("ganesha restarted", zap.Bool("grace", o.Grace), zap.Bool("kill", o.Kill),
				zap.Int("cut_connections", cut), zap.Duration("stop", stopped), zap.Duration("downtime", time.Since(start)),
				zap.Int("pid", g.pid()), zap.String("nfs_addr", g.addr()))
			return nil
		}
		t.log.Warn("ganesha did not come back; retrying", zap.Int("attempt", i+1), zap.Error(err))
		if ctx.Err() != nil {
			break
		}
	}
	t.markDone()
	return fmt.Errorf("local target: restart ganesha on port %d: %w", old.port, err)
}

// kill stops ganesha with SIGKILL (a crash: no chance to clean up) and
// waits until it is reaped.
func (g *ganesha) kill() error {
	if err := g.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill ganesha: %w", err)
	}
	<-g.exited
	return nil
}
