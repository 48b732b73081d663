package fusefs

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/efs-fuse/efs-fuse/nfsclient/rpc"
)

// groupsTTL is how long the supplementary groups read for a pid are
// reused. A process changes its groups rarely (setgroups at login), while
// one cp or tar sends thousands of requests: a short TTL saves nearly all
// /proc reads and still notices a newgrp within a couple of seconds.
const groupsTTL = 2 * time.Second

// groupsCacheMax bounds the cache; past it, expired entries are dropped and
// if that is not enough the whole cache is (pids are cheap to re-read).
const groupsCacheMax = 4096

// credentials turns the FUSE caller of a request into the AUTH_SYS identity
// sent with its RPCs.
type credentials struct {
	unprivileged bool
	fixed        rpc.Cred
	now          func() time.Time
	readGroups   func(pid uint32) []uint32

	mu     sync.Mutex // guards groups
	groups map[uint32]groupsEntry
}

type groupsEntry struct {
	groups  []uint32
	expires time.Time
}

func newCredentials(unprivileged bool, fixed rpc.Cred) *credentials {
	return &credentials{
		unprivileged: unprivileged, fixed: fixed,
		now: time.Now, readGroups: procGroups,
		groups: map[uint32]groupsEntry{},
	}
}

// of returns the credentials a request runs as. In unprivileged mode that
// is always the mounting user: a non-root mount must not let other local
// users act as themselves (the mounting user could not have done that
// with the kernel client either). Otherwise it is the caller's uid, gid
// and supplementary groups.
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
	now := c.now()
	c.mu.Lock()
	e, ok := c.groups[pid]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.groups
	}
	g := c.readGroups(pid)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.groups) >= groupsCacheMax {
		for p, e := range c.groups {
			if !now.Before(e.expires) {
				delete(c.groups, p)
			}
		}
		if len(c.groups) >= groupsCacheMax {
			clear(c.groups)
		}
	}
	c.groups[pid] = groupsEntry{groups: g, expires: now.Add(groupsTTL)}
	return g
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
