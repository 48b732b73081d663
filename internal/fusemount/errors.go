package fusemount

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/nfsclient"
	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// connectError words a failed session bring-up for the person mounting:
// what happened and what to check, instead of the layer that noticed it
// (an RPC record limit, a TLS alert, a context deadline). The cause stays
// in the chain for errors.Is and the log.
func connectError(req *mountopts.MountRequest, err error) error {
	prefix := fmt.Sprintf("Failed to connect to %s (%s)", req.Target.DNSName, req.Target.DialAddr)
	cause := err
	if c := rpc.ClosedBy(err); c != nil {
		cause = c // the session's first call failed because the connection ended
	}
	var why string
	switch {
	case errors.Is(cause, rpc.ErrRecordTooLarge) && !req.Options.TLS:
		// A TLS server answers plain bytes with an alert, whose first
		// bytes read as an absurd record length.
		why = "the server answered with something that is not NFS: if this is a TLS port, add -o tls"
	case errors.Is(cause, rpc.ErrRecordTooLarge):
		why = "the server answered with something that is not NFS: is this the mount target's NFS port?"
	case tunnel.RefusedClientCert(cause):
		why = "the mount target refused our client certificate: check that the access point (accesspoint=) " +
			"and the IAM identity (iam) are allowed to mount this file system"
	case errors.Is(err, context.DeadlineExceeded) || isHandshakeTimeout(err):
		// Without a word from the server (the TLS handshake or the
		// first NFS call timed out) nothing was refused.
		why = fmt.Sprintf("no answer from the server: check that the mount target is up and that "+
			"its security group lets this host reach port %d", req.Options.MountTargetPort)
	default:
		return fmt.Errorf("%s: %w", prefix, err)
	}
	return &describedError{msg: prefix + ": " + why, err: err}
}

func isHandshakeTimeout(err error) bool {
	var te *tunnel.Error
	var ne interface{ Timeout() bool }
	return errors.As(err, &te) && errors.As(te.Err, &ne) && ne.Timeout()
}

// lookupError words a mount path that cannot be looked up as the mount
// helper would (mount.nfs4 prints strerror: "No such file or directory").
func lookupError(req *mountopts.MountRequest, err error) error {
	prefix := fmt.Sprintf("Failed to mount %s:%s", req.FSID, req.Path)
	var nfsErr *nfsclient.Error
	if !errors.As(err, &nfsErr) {
		return fmt.Errorf("%s: %w", prefix, err)
	}
	return &describedError{msg: prefix + ": " + capitalize(nfsclient.ErrnoOf(err).Error()), err: err}
}

// fusermountError replaces go-fuse's "fusermount exited with code 256\n"
// (a raw wait status, with a line break) by fusermount3's own reason,
// which it printed to stderr.
func fusermountError(mountPoint, stderr string, err error) error {
	if !strings.Contains(err.Error(), "fusermount exited with code") {
		return err
	}
	reason := strings.Join(strings.Fields(stderr), " ")
	// go-fuse runs it by its full path, which it prints as its name.
	if name, rest, ok := strings.Cut(reason, ": "); ok && strings.HasPrefix(filepath.Base(name), "fusermount") {
		reason = filepath.Base(name) + ": " + rest
	}
	if reason == "" {
		reason = "fusermount3 failed without saying why (" + strings.TrimSpace(err.Error()) + ")"
	}
	return &describedError{msg: fmt.Sprintf("Failed to mount at %s: %s", mountPoint, reason), err: err}
}

// describedError is a message written for the user over the error that
// caused it.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

func capitalize(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}
