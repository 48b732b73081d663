package fallback

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// tunnelLogTail bounds how much of a tunnel log is read for its last error.
const tunnelLogTail = 64 << 10

// withTunnelError adds the tunnel's last logged error to a failed
// mount.nfs4. The kernel client only says that the mount timed out or the
// connection was reset; why (the mount target's certificate names another
// file system, it refused ours) is in the tunnel's log, and the person
// reading the mount's error should not have to go and look.
func withTunnelError(err error, logFile string) error {
	line := lastErrorLine(logFile)
	if line == "" {
		return err
	}
	return fmt.Errorf("%w; the tunnel (log %s) reported: %s", err, logFile, line)
}

// lastErrorLine is the last ERROR line of a tunnel log ("" if none), less
// its timestamp.
func lastErrorLine(logFile string) string {
	f, err := os.Open(logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > tunnelLogTail {
		_, _ = f.Seek(fi.Size()-tunnelLogTail, io.SeekStart)
	}
	b, _ := io.ReadAll(io.LimitReader(f, tunnelLogTail))
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	marker := []byte(" - ERROR - ")
	for i := len(lines) - 1; i >= 0; i-- {
		if j := bytes.Index(lines[i], marker); j >= 0 {
			return string(lines[i][j+len(marker):])
		}
	}
	return ""
}
