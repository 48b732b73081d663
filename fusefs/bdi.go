package fusefs

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// kernelReadAheadKB is the kernel's read-ahead for the mount. A FUSE
// mount's backing device starts with the kernel default of 128 KiB, so
// buffered sequential reads arrive as 128 KiB READs, one round trip each;
// at 4 MiB the kernel asks for 1 MiB READs (MaxPages) several at a time.
// Only root may change it; unprivileged mounts keep the default and rely on
// the handle read-ahead (readahead.go).
const kernelReadAheadKB = 4096

// raiseKernelReadAhead sets read_ahead_kb of the mount's backing device
// (/sys/class/bdi/<major>:<minor>), best effort.
func raiseKernelReadAhead(mountpoint string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(mountpoint, &st); err != nil {
		return err
	}
	dev := uint64(st.Dev)
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(dev), unix.Minor(dev))
	return os.WriteFile(p, []byte(fmt.Sprintf("%d\n", kernelReadAheadKB)), 0)
}
