package fusemount

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/iamauth"
	"github.com/efs-fuse/efs-fuse/internal/mountopts"
	"github.com/efs-fuse/efs-fuse/tunnel"
)

// tlsIdentity is a mount's TLS client identity and its renewal loop.
type tlsIdentity struct {
	id     *tunnel.Identity
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startTLSIdentity makes the client certificate EFS expects on every TLS
// mount (fs-id, access point, client info, and the IAM signature with
// `iam`) and renews it in the background until stop. Root of the host
// shares efs-utils' key (/etc/amazon/efs/privateKey.pem); anyone else
// keeps a key of their own in their state directory.
func startTLSIdentity(ctx context.Context, req *mountopts.MountRequest, id Identity, version string, log *zap.Logger) (*tlsIdentity, error) {
	o := req.Options
	var signer *iamauth.Signer
	if o.IAM {
		var err error
		signer, err = iamauth.New(ctx, iamauth.Config{
			SourceConfig: iamauth.SourceConfig{
				Profile: o.AWSProfile, CredsURI: o.AWSCredsURI, RoleARN: o.RoleARN, JWTPath: o.JWTPath,
				Region: req.Target.Region,
			},
			FileSystemID: req.FSID,
		})
		if err != nil {
			return nil, fmt.Errorf("Failed to set up IAM authorization: %w", err)
		}
	}
	keyPath := "" // tunnel.DefaultKeyPath
	if id.Unprivileged && req.StateDir != "" {
		keyPath = filepath.Join(req.StateDir, "privateKey.pem")
	}
	renew := time.Duration(0)
	if req.Config != nil {
		renew = time.Duration(req.Config.Watchdog.TLSCertRenewalIntervalMin) * time.Minute
	}
	ident, err := tunnel.NewIdentity(ctx, tunnel.IdentityConfig{
		FSID:        req.FSID,
		AccessPoint: o.AccessPoint,
		KeyPath:     keyPath,
		IAM:         signer,
		RenewEvery:  renew,
		Version:     version,
		Logger:      log.Named("identity"),
	})
	if err != nil {
		return nil, fmt.Errorf("Failed to create the TLS client certificate: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t := &tlsIdentity{id: ident, cancel: cancel}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		ident.Run(rctx)
	}()
	return t, nil
}

// stop ends the renewal loop and waits for it.
func (t *tlsIdentity) stop() {
	t.cancel()
	t.wg.Wait()
}
