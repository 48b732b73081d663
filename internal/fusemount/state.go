package fusemount

import (
	"strings"
	"time"
)

// RemountArgv is the command line that mounts again what args (os.Args
// after argv[0]) mounted, run as exe: the same, minus the foreground flag,
// so the remount puts itself in the background and returns once it
// answers. Values of -o and --config are kept as they are.
func RemountArgv(exe string, args []string) []string {
	out := []string{exe}
	takesValue := map[string]bool{"-o": true, "--options": true, "--config": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case takesValue[a]:
			out = append(out, a)
			if i+1 < len(args) {
				out = append(out, args[i+1])
				i++
			}
			continue
		case a == "--":
			return append(out, args[i:]...)
		case a == "--foreground" || strings.HasPrefix(a, "--foreground="):
			continue
		case isBoolShorthands(a):
			// -f alone or among -n -s -v (e.g. -fv): drop only the f.
			if rest := strings.ReplaceAll(a[1:], "f", ""); rest != "" {
				out = append(out, "-"+rest)
			}
			continue
		}
		out = append(out, a)
	}
	return out
}

// isBoolShorthands reports whether a is a group of the mount command's
// boolean short flags (-f -n -s -v), e.g. "-f" or "-nf".
func isBoolShorthands(a string) bool {
	if len(a) < 2 || a[0] != '-' || a[1] == '-' {
		return false
	}
	for _, c := range a[1:] {
		if !strings.ContainsRune("fnsv", c) {
			return false
		}
	}
	return true
}

// epoch converts t to the state files' seconds-since-the-epoch.
func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
