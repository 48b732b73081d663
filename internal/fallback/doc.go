// Package fallback is fallback mode: what the EFS mount helper does with
// stunnel, done with efs-fuse's own relay. A mount picks a local port
// (SelectPort), starts `efs-fuse tunnel` on it as a detached process
// (RunTunnel is that process), runs mount.nfs4 against 127.0.0.1:port
// (MountArgs, RunMountNFS) and records the tunnel in a state file
// (State) from which the watchdog can restart it.
//
// Without TLS there is no tunnel: the kernel client mounts the target
// directly, as with the helper's notls.
package fallback
