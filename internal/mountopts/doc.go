// Package mountopts parses and validates what a mount is asked for: the
// DEVICE argument (fs-id[:/path] or a mount target DNS name), the -o option
// string, and the server to reach (DNS name, dial address, TLS name).
//
// The option names, defaults and error messages are those of the EFS mount
// helper (amazon-efs-utils), so fstab lines and scripts written for
// `mount -t efs` keep working; users grep for the exact messages. An
// option unknown to EFS, nfs(5), mount(8) and fuse(8) is refused, as
// mount.nfs4 would refuse it, with the nearest known name (known.go);
// ParseSloppy (mount -s) keeps it instead.
//
// Everything here is pure: the environment and instance metadata are passed
// in as functions, so every decision is table-tested.
package mountopts
