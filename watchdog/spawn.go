package watchdog

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// SpawnDetached starts argv (normally `efs-fuse watchdog`) in its own
// session with stdio on /dev/null and does not wait for it: it must outlive
// the mount command that started it, without systemd (containers). If
// another watchdog already runs, the new one exits at once (lock). AWS_*
// variables are not passed on (WithoutAWS).
func SpawnDetached(argv []string, env []string) (int, error) {
	if len(argv) == 0 {
		return 0, fmt.Errorf("start watchdog: empty command")
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("start watchdog: %w", err)
	}
	defer devnull.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = WithoutAWS(env)
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start watchdog %s: %w", argv[0], err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return pid, nil
}
