package fallback

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// MountNFS4 is the kernel NFS client's mount helper, found in PATH (plus
// /sbin and /usr/sbin, where nfs-common puts it).
const MountNFS4 = "mount.nfs4"

// Retry policy of the helper's mount.nfs4 call.
const (
	MountAttempts       = 3
	MountAttemptTimeout = 15 * time.Second
)

// MountArgs is the mount.nfs4 argv. With TLS the kernel mounts the local
// tunnel: 127.0.0.1:/path with port=<port>. Without TLS it mounts the target
// itself (mounttargetip if given, else the DNS name) and port is ignored.
// NFS options are the user's, then the defaults the user did not set
// (mountopts.NFSOptions); EFS-only options never appear.
func MountArgs(req *mountopts.MountRequest, port int) []string {
	o := req.Options
	nfs := mountopts.NFSOptions(o)
	host := "127.0.0.1"
	if o.TLS {
		nfs = append(nfs, "port="+strconv.Itoa(port))
	} else {
		host = req.Target.DNSName
		if o.MountTargetIP != "" {
			host = o.MountTargetIP
		}
		// mounttargetport (ours: test targets, on-premises servers) becomes
		// the NFS port unless the user set port= themselves.
		if _, ok := o.Get("port"); !ok && o.MountTargetPort != 0 && o.MountTargetPort != mountopts.DefaultMountTargetPort {
			nfs = append(nfs, "port="+strconv.Itoa(o.MountTargetPort))
		}
	}
	path := req.Path
	if path == "" {
		path = "/"
	}
	return []string{MountNFS4, host + ":" + path, req.MountPoint, "-o", strings.Join(nfs, ",")}
}

// ExecFunc runs argv and returns its stderr; err is an *exec.ExitError on
// a non-zero exit, or ctx's error when it timed out. Tests script it.
type ExecFunc func(ctx context.Context, argv []string) (stderr string, err error)

// Exec is the real ExecFunc.
func Exec(ctx context.Context, argv []string) (string, error) {
	path, err := lookPath(argv[0])
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, path, argv[1:]...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = time.Second // a killed mount.nfs4's children must not hold us
	err = cmd.Run()
	if ctx.Err() != nil {
		return stderr.String(), ctx.Err()
	}
	return stderr.String(), err
}

func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/sbin", "/usr/sbin"} {
		if p, err := exec.LookPath(dir + "/" + name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: install the NFS client (nfs-common or nfs-utils)", name)
}

// MountError is a failed mount.nfs4, with the helper's message.
type MountError struct {
	DNSName, MountPoint string
	ExitCode            int // -1 when it did not exit (timeout, not started)
	Stderr              string
	Err                 error
}

func (e *MountError) Error() string {
	if e.ExitCode < 0 {
		return fmt.Sprintf("Failed to mount %s at %s: %v", e.DNSName, e.MountPoint, e.Err)
	}
	return fmt.Sprintf("Failed to mount %s at %s: returncode=%d, stderr=%q", e.DNSName, e.MountPoint, e.ExitCode, strings.TrimSpace(e.Stderr))
}

func (e *MountError) Unwrap() error { return e.Err }

// Retry is how RunMountNFS retries; zero fields take the helper's values.
type Retry struct {
	Attempts int
	Timeout  time.Duration
	// Sleep waits between attempts; nil = time.Sleep-like wait of one second
	// that ends early with ctx.
	Sleep func(ctx context.Context)
}

// RunMountNFS runs argv up to Attempts times, each bounded by Timeout, as
// the helper does: it retries on a timeout and when mount.nfs4 reports
// "reset by peer" (the tunnel or server dropped the first connection), and
// fails at once otherwise. mount.nfs4 reports only text, so its stderr is
// the one signal there is.
func RunMountNFS(ctx context.Context, run ExecFunc, argv []string, dnsName string, r Retry, log *zap.Logger) error {
	if r.Attempts <= 0 {
		r.Attempts = MountAttempts
	}
	if r.Timeout <= 0 {
		r.Timeout = MountAttemptTimeout
	}
	if r.Sleep == nil {
		r.Sleep = func(ctx context.Context) {
			t := time.NewTimer(time.Second)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
	}
	mp := argv[2]
	var last *MountError
	for attempt := 1; attempt <= r.Attempts; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.Timeout)
		stderr, err := run(actx, argv)
		cancel()
		if err == nil {
			return nil
		}
		last = &MountError{DNSName: dnsName, MountPoint: mp, ExitCode: -1, Stderr: stderr, Err: err}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			last.ExitCode = ee.ExitCode()
		}
		if ctx.Err() != nil {
			return last
		}
		timedOut := errors.Is(err, context.DeadlineExceeded)
		if !timedOut && !strings.Contains(stderr, "reset by peer") {
			return last
		}
		reason := "reset by peer"
		if timedOut {
			reason = fmt.Sprintf("timed out after %v", r.Timeout)
		}
		log.Error(fmt.Sprintf("Mounting %s to %s failed (%s), mount attempt %d/%d", dnsName, mp, reason, attempt, r.Attempts),
			zap.Int("returncode", last.ExitCode), zap.String("stderr", strings.TrimSpace(stderr)))
		if attempt < r.Attempts {
			r.Sleep(ctx)
		}
	}
	return last
}
