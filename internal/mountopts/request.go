package mountopts

import (
	"context"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/efsconfig"
)

// MountRequest carries everything a mount needs, resolved. It lives here,
// not in cmd, so the FUSE and watchdog code can take it without importing cmd.
type MountRequest struct {
	FSID       string
	Path       string // exported path, "/" by default
	MountPoint string // absolute
	Options    *Options
	Target     Target
	Config     *efsconfig.Config
	Foreground bool
	Logger     *zap.Logger // carries fs_id and mount_point fields
	StateDir   string      // exists, with the config's state_file_dir_mode
	// RemountArgs are the arguments (after the program) that mount this
	// again from any working directory: paths absolute, no foreground
	// flag. The watchdog runs them after the serving process died; nil
	// means the mounter derives them from its own command line.
	RemountArgs []string
}

// Mounter performs a mount. Mount blocks until the file system is unmounted
// or ctx is cancelled, and calls ready exactly once when the mount answers;
// an error before ready means the mount failed.
type Mounter interface {
	Mount(ctx context.Context, req *MountRequest, ready func()) error
}
