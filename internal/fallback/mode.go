package fallback

import (
	"bufio"
	"errors"
	"os"
	"strings"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// Mode is how a file system is mounted.
type Mode int

const (
	// ModeFUSE: efs-fuse is the NFS client, behind FUSE.
	ModeFUSE Mode = iota + 1
	// ModeFallback: the kernel NFS client, through a local tunnel with TLS.
	ModeFallback
)

func (m Mode) String() string {
	switch m {
	case ModeFUSE:
		return "FUSE"
	case ModeFallback:
		return "fallback (kernel NFS client)"
	}
	return "unknown"
}

// ChooseMode picks the mode. Fallback when asked (-o fallback or its alias
// stunnel), or when FUSE is unavailable but the kernel has an NFS client;
// reason is a sentence for the log whenever the choice was not the default.
func ChooseMode(fuseAvailable, kernelHasNFS bool, opts *mountopts.Options) (mode Mode, reason string, err error) {
	// Without TLS there is no tunnel: the kernel client mounts the target.
	how := "the kernel NFS client through a local TLS tunnel"
	if !opts.TLS {
		how = "the kernel NFS client, straight to the mount target (no TLS)"
	}
	switch {
	case opts.Fallback && kernelHasNFS:
		return ModeFallback, "fallback mode requested (fallback option): using " + how, nil
	case opts.Fallback:
		return 0, "", &mountopts.UsageError{Msg: `The "fallback" option needs the kernel NFS client, and this kernel has none (nfs4 is not in /proc/filesystems)`}
	case fuseAvailable:
		return ModeFUSE, "", nil
	case kernelHasNFS:
		return ModeFallback, "FUSE is not available (no /dev/fuse); switching to fallback mode: " + how, nil
	}
	return 0, "", errors.New("cannot mount: FUSE is not available (no /dev/fuse) and the kernel has no NFS client (nfs4 is not in /proc/filesystems)")
}

// KernelHasNFS4 reports whether /proc/filesystems lists nfs4.
func KernelHasNFS4() bool {
	f, err := os.Open("/proc/filesystems")
	if err != nil {
		return false
	}
	defer f.Close()
	return listsNFS4(bufio.NewScanner(f))
}

func listsNFS4(sc *bufio.Scanner) bool {
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 && fields[len(fields)-1] == "nfs4" {
			return true
		}
	}
	return false
}

// FUSEAvailable reports whether /dev/fuse can be opened.
func FUSEAvailable() bool {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
