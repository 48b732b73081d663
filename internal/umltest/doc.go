// Package umltest runs tests inside a User-Mode Linux guest: a Linux 6.1
// kernel with an NFS client, run as a process on this host (Debian's
// user-mode-linux), whose root is the host's own file system, read-only,
// under a tmpfs overlay. The host's kernel has no NFS client; the guest's
// is the real kernel NFS client that fallback mode drives and that FUSE
// mode is compared with.
//
// A test that needs the guest starts with
//
//	if !umltest.InGuest(t) {
//		return // it ran in a guest; its result is reported through t
//	}
//
// On the host, InGuest boots a guest running this test binary with
// -test.run for this one test (and GuestEnv set), waits for it with a
// timeout, copies the guest's output into t's log and fails or skips t as
// the guest's run did. Inside the guest it returns true and the test goes
// on. Boot runs any shell job in a guest, for callers that are not tests.
//
// scripts/uml-run.sh is the guest's PID 1 (it says what the guest mounts);
// shared/KERNEL-CLIENT-TESTBED.md has the facts it rests on. What the
// guest's figures mean: it has one virtual CPU and intercepts every
// system call, so use it for behaviour and for ratios within one run,
// never for absolute speed.
package umltest
