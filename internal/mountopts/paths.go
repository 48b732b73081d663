package mountopts

import (
	"path/filepath"
	"strings"
)

// pathOptions name files. A relative value means the caller's working
// directory, which the background mount process, a tunnel and a watchdog
// remount do not share: AbsPaths fixes it before any of them starts.
var pathOptions = map[string]bool{"cafile": true, "jwtpath": true, "netns": true}

// AbsPaths returns the -o string with every relative path option made
// absolute against cwd; everything else is left as written.
func AbsPaths(optsString, cwd string) string {
	items := strings.Split(optsString, ",")
	for i, item := range items {
		key, value, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || !pathOptions[key] || value == "" || filepath.IsAbs(value) {
			continue
		}
		items[i] = key + "=" + filepath.Join(cwd, value)
	}
	return strings.Join(items, ",")
}
