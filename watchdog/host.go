package watchdog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func statfs(path string) error {
	var s unix.Statfs_t
	return unix.Statfs(path, &s)
}

// lazyUnmount detaches a mount at once whatever holds it (umount -l): the
// FUSE daemon behind it is dead, so nothing on it can be saved by waiting.
func lazyUnmount(mountPoint string) error {
	if os.Geteuid() == 0 {
		if err := unix.Unmount(mountPoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("lazy unmount %s: %w", mountPoint, err)
		}
		return nil
	}
	out, err := exec.Command("fusermount3", "-u", "-z", mountPoint).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u -z %s: %s: %w", mountPoint, bytes.TrimSpace(out), err)
	}
	return nil
}

// maxOutput keeps the tail of a failed remount's output for the log.
const maxOutput = 4 << 10

// runRemount runs a FUSE mount's command as the user who mounted it, in a
// new session (it outlives the watchdog), and waits for it: the command
// returns once the new mount answers, or fails with the reason.
func runRemount(ctx context.Context, argv []string, uid, gid int) error {
	if len(argv) == 0 {
		return errors.New("remount: empty command")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = WithoutAWS(os.Environ())
	if os.Geteuid() == 0 && uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > maxOutput {
			msg = msg[len(msg)-maxOutput:]
		}
		return fmt.Errorf("remount command %s: %w: %s", argv[0], err, msg)
	}
	return nil
}
