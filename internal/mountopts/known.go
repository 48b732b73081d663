package mountopts

import (
	"fmt"
	"sort"
	"strings"
)

// passedToNFS are options FUSE mode ignores but port-based mode hands to
// mount.nfs4, which knows them (nfs(5)), or which mount(8) and
// mount.fuse3 pass to every helper (mount(8), fuse(8)). With interpreted,
// tolerated and efsOnly they make up every option a mount accepts.
var passedToNFS = map[string]bool{
	// nfs(5)
	"softerr": true, "softreval": true, "nosoftreval": true, "posix": true, "noposix": true,
	"lock": true, "nolock": true, "udp": true, "tcp": true, "rdma": true, "acl": true, "noacl": true,
	"rdirplus": true, "nordirplus": true, "migration": true, "nomigration": true,
	"mountport": true, "mountvers": true, "mountproto": true, "mounthost": true, "mountaddr": true,
	"namlen": true, "addr": true, "clientaddr": true, "max_connect": true, "write": true,
	"bsize": true, "trunkdiscovery": true, "notrunkdiscovery": true, "xprtsec": true,
	// mount(8), for every file system
	"dirsync": true, "remount": true, "mand": true, "nomand": true, "owner": true, "group": true,
	"nosymfollow": true, "symfollow": true, "context": true, "fscontext": true, "defcontext": true,
	"rootcontext": true,
	// fuse(8), which mount.fuse3 may pass on
	"allow_root": true, "auto_unmount": true, "blkdev": true, "blksize": true, "max_read": true,
}

// known reports whether key is an option of EFS, NFS, mount(8) or FUSE.
func known(key string) bool {
	return efsOnly[key] || interpreted[key] || tolerated[key] || passedToNFS[key] ||
		strings.HasPrefix(key, "x-") // annotations for mount(8) and systemd
}

// unknownOption is the message for an option nobody knows, with the
// closest known name when one is near enough to be a typo.
func unknownOption(key string) *UsageError {
	msg := fmt.Sprintf("Unknown mount option %q: it is neither an EFS nor an NFS option", key)
	if s := closestOption(key); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return usagef(msg + "; mount -s (sloppy) mounts anyway and ignores it")
}

// closestOption returns the known option nearest to key by edit distance
// (a swap of two letters counting as one edit), or "" when none is within
// a third of key's length: a suggestion should look like a typo, not a guess.
func closestOption(key string) string {
	if len(key) > 64 {
		return "" // no option is that long; nor is a typo of one
	}
	limit := max(1, len(key)/3)
	best, bestD := "", limit+1
	for _, set := range []map[string]bool{efsOnly, interpreted, tolerated, passedToNFS} {
		names := make([]string, 0, len(set))
		for n := range set {
			names = append(names, n)
		}
		sort.Strings(names) // ties go to the first name, every time
		for _, n := range names {
			if d := editDistance(key, n); d < bestD {
				best, bestD = n, d
			}
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of adjacent letters cost one each.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
