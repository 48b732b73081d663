// Package fallbacke2e tests fallback mode end to end against a real kernel
// NFS client: each test boots a User-Mode Linux guest (internal/umltest),
// starts the local target there, and mounts it with the efs-fuse binary
// (`-o tls,fallback`: our tunnel plus mount.nfs4), as a user would, with
// the guest's own /run/efs, logs and watchdog. The host's kernel has no
// NFS client; without a guest the tests skip, saying why.
//
// The guests move hundreds of MiB through one virtual CPU, so `make test`
// runs this package without the race detector (which the guest cannot
// run anyway).
package fallbacke2e
