package watchdog

import "strings"

// WithoutAWS drops AWS_* variables from env. The watchdog outlives the
// shell that mounted and runs remounts and tunnels long after: credentials
// from that shell's environment must not live on in it (anyone who can
// read its /proc/PID/environ would find them), nor be used for mounts
// nobody asked it to make with them. Remounts get their credentials the
// way a mount at boot would: profile, web identity, container or instance
// role.
func WithoutAWS(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_") {
			out = append(out, kv)
		}
	}
	return out
}
