// Package testtarget starts a local mount target for a test: free ports,
// temporary directories, zaptest logs and cleanup, skipping when not root.
package testtarget

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/efs-fuse/efs-fuse/internal/localtarget"
)

// startTimeout bounds startup; ganesha is normally ready in well under a second.
const startTimeout = 30 * time.Second

// Start runs a target for tb and stops it in tb.Cleanup. opts adjust the
// Options after the defaults here (loopback port 0, temp dirs) are set.
//
// It skips when not root (FSAL VFS needs CAP_DAC_READ_SEARCH) and fails when
// nfs-ganesha is missing: CI installs it, so missing is a broken setup.
func Start(tb testing.TB, opts ...func(*localtarget.Options)) *localtarget.Target {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("local target needs root: FSAL VFS needs CAP_DAC_READ_SEARCH")
	}
	// tb.TempDir is under $TMPDIR (/tmp, ext4 here): FSAL VFS needs ext4/xfs.
	root := tb.TempDir()
	o := localtarget.Options{
		ExportDir:    filepath.Join(root, "export"),
		StateDir:     filepath.Join(root, "state"),
		Listen:       "127.0.0.1:0",
		LeaseSeconds: 10,
		Logger:       zaptest.NewLogger(tb),
	}
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	t, err := localtarget.Start(ctx, o)
	if errors.Is(err, localtarget.ErrGaneshaNotInstalled) {
		tb.Fatal(err)
	}
	if err != nil {
		tb.Fatalf("start local target: %v", err)
	}
	tb.Cleanup(func() {
		if err := t.Close(); err != nil {
			tb.Errorf("close local target: %v", err)
		}
	})
	return t
}

// WithGrace starts ganesha with a real grace period of seconds (not
// graceless): OPEN and LOCK get NFS4ERR_GRACE until it ends or every client
// known from before reclaimed. Restarts with RestartOptions.Grace use the
// same length.
func WithGrace(seconds int) func(*localtarget.Options) {
	return func(o *localtarget.Options) { o.Grace, o.GraceSeconds = true, seconds }
}

// WithGraceSeconds sets the grace period of restarts with
// RestartOptions.Grace only; the first start stays graceless.
func WithGraceSeconds(seconds int) func(*localtarget.Options) {
	return func(o *localtarget.Options) { o.GraceSeconds = seconds }
}
