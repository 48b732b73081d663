package fusefs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// credentials turns the FUSE caller of a request into the AUTH_SYS identity
// sent with its RPCs.
type credentials struct {
	unprivileged bool
	fixed        rpc.Cred
	readGroups   func(pid uint32) []uint32
}

func newCredentials(unprivileged bool, fixed rpc.Cred) *credentials {
	return &credentials{unprivileged: unprivileged, fixed: fixed, readGroups: procGroups}
}

// of returns the credentials a request runs as. In unprivileged mode that
// is always the mounting user: a non-root mount must not let other local
// users act as themselves (the mounting user could not have done that
// with the kernel client either). Otherwise it is the caller's uid, gid
// and supplementary groups.
//
// The groups are read from /proc for every request, never cached: the
// kernel client sends the caller's credentials as they are at the call,
// and a process that drops groups (setgroups, setuid to another user, a
// server forking per client) must not keep them for a while. One small
// /proc read costs microseconds; the RPC it goes with, a millisecond.
func (c *credentials) of(ctx context.Context) rpc.Cred {
	if c.unprivileged {
		return c.fixed
	}
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return rpc.Root
	}
	return rpc.Cred{UID: caller.Uid, GID: caller.Gid, Groups: c.groupsOf(caller.Pid)}
}

func (c *credentials) groupsOf(pid uint32) []uint32 {
	if pid == 0 { // requests the kernel makes on its own (writeback, release)
		return nil
	}
	return c.readGroups(pid)
}

// procGroups reads the supplementary groups of pid from /proc. A process
// that is gone (or a kernel thread) simply has none; the primary gid
// still goes with every request.
func procGroups(pid uint32) []uint32 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	return parseGroups(b)
}

// parseGroups extracts the "Groups:" line of a /proc/<pid>/status file,
// keeping at most rpc.MaxGroups entries: AUTH_SYS (and EFS) carry no more.
func parseGroups(status []byte) []uint32 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line, ok := bytes.CutPrefix(sc.Bytes(), []byte("Groups:"))
		if !ok {
			continue
		}
		var groups []uint32
		for _, f := range bytes.Fields(line) {
			g, err := strconv.ParseUint(string(f), 10, 32)
			if err != nil {
				continue
			}
			groups = append(groups, uint32(g))
			if len(groups) == rpc.MaxGroups {
				break
			}
		}
		return groups
	}
	return nil
}
