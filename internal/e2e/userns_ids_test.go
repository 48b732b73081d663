package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserNamespaceOwnIDs: inside `unshare -Urm` the mounting user's own
// files show as owned by namespace root (the ids that map to the user's
// host uid and gid, which the server records), and the user can append
// to, create in, rename, chmod and delete its own files and directories.
// Before the mapping they showed as the overflow id 65534, appending and
// creating in a new directory failed with EACCES and rm with EOVERFLOW.
func TestUserNamespaceOwnIDs(t *testing.T) {
	e := newUserEnv(t)
	dev := ownExport(t, e)
	m := e.mnt
	script := strings.Join([]string{
		"set -e",
		binary + " -o " + e.options + " " + dev + " " + m,
		"stat -c 'ROOT %u:%g' " + m,
		"trap 'umount -l " + m + "' EXIT",
		"echo one > " + m + "/own",
		"stat -c 'OWNER %u:%g' " + m + "/own",
		"echo two >> " + m + "/own",
		"mkdir " + m + "/dir",
		"stat -c 'DIROWNER %u:%g' " + m + "/dir",
		"echo three > " + m + "/dir/inner",
		"mv " + m + "/dir/inner " + m + "/dir/renamed",
		"chmod 600 " + m + "/dir/renamed",
		"stat -c 'MODE %a' " + m + "/dir/renamed",
		"cat " + m + "/own",
		"rm " + m + "/dir/renamed",
		"rmdir " + m + "/dir",
		"rm " + m + "/own",
		"echo DONE",
	}, "; ")
	out, err := e.asUser(t, "unshare -Urm sh -c \""+script+"\"")
	if err != nil {
		t.Fatalf("namespace operations failed: %v\n%s", err, out)
	}
	for _, want := range []string{"ROOT 0:0\n", "OWNER 0:0\n", "DIROWNER 0:0\n", "MODE 600\n", "one\ntwo\n", "DONE\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// ownExport makes a directory of the export owned by uid and gid 1000 and
// returns the device that mounts it, as an access point with an owner
// would: inside a user namespace only the user's own ids map (others show
// as the overflow id, and the kernel refuses writes into a directory whose
// owner it cannot map), so the user works in its own directory.
func ownExport(t *testing.T, e *userEnv) string {
	t.Helper()
	dir := filepath.Join(e.export, "u")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	return "fs-12345678:/u"
}
