package fusemount

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/mountstate"
	"github.com/efs-fuse/efs-fuse/nfsclient"
)

// Refresh cadence of the state file: statistics are sampled every
// statsPoll and written when they change, and at least every
// stateRefresh so readers can tell a live process from a frozen one.
const (
	statsPoll    = 500 * time.Millisecond
	stateRefresh = 5 * time.Second
)

// session is what the state keeper needs of the NFS client.
type session interface {
	Stats() nfsclient.Stats
	ForceReconnect(reason string)
}

// stateKeeper owns a mount's state file while the mount is served.
type stateKeeper struct {
	path string
	st   mountstate.FUSE
	sess session
	log  *zap.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startStateKeeper writes the state file now (so it exists by the time the
// mount command returns), then refreshes it and answers
// mountstate.RestartSessionSignal (the watchdog sends it when the mount
// stops answering) until stop.
func startStateKeeper(dir string, st mountstate.FUSE, sess session, log *zap.Logger) (*stateKeeper, error) {
	k := &stateKeeper{path: filepath.Join(dir, mountstate.FUSEFileName(st.FSID, st.MountPoint)), st: st, sess: sess, log: log}
	k.sample(time.Now())
	if err := k.write(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.cancel = cancel
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, mountstate.RestartSessionSignal)
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer signal.Stop(sig)
		k.loop(ctx, sig)
	}()
	return k, nil
}

func (k *stateKeeper) loop(ctx context.Context, sig <-chan os.Signal) {
	t := time.NewTicker(statsPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			k.log.Warn("restarting the NFS connection at the watchdog's request")
			k.sess.ForceReconnect("watchdog: mount unresponsive")
		case now := <-t.C:
			changed := k.sample(now)
			if changed || now.Sub(time.Unix(0, int64(k.st.UpdateTime*1e9))) >= stateRefresh {
				if err := k.write(); err != nil {
					k.log.Warn("refreshing the state file", zap.Error(err))
				}
			}
		}
	}
}

// sample copies the session statistics into the state and reports whether
// anything a reader shows changed.
func (k *stateKeeper) sample(now time.Time) bool {
	s := k.sess.Stats()
	old := k.st
	k.st.Connected, k.st.Reconnects, k.st.Recoveries, k.st.LastError = s.Connected, s.Reconnects, s.Recoveries, s.LastError
	k.st.Connections = s.Connections
	if s.LastError != "" && (s.LastError != old.LastError || s.Reconnects != old.Reconnects) {
		k.st.LastErrorTime = epoch(now)
	}
	return k.st.Connected != old.Connected || k.st.Connections != old.Connections || k.st.Reconnects != old.Reconnects ||
		k.st.Recoveries != old.Recoveries || k.st.LastError != old.LastError
}

func (k *stateKeeper) write() error {
	k.st.UpdateTime = epoch(time.Now())
	return mountstate.Write(filepath.Dir(k.path), filepath.Base(k.path), &k.st)
}

// stop ends the refreshing and removes the state file: the mount is gone,
// and a file left behind would make the watchdog remount it.
func (k *stateKeeper) stop() {
	k.cancel()
	k.wg.Wait()
	if err := os.Remove(k.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		k.log.Warn("removing the state file", zap.Error(err))
	}
}
