package fusemount

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// stderrMu makes captures of fd 2 take turns.
var stderrMu sync.Mutex

// captureStderr runs f with file descriptor 2 pointed at a pipe and
// returns what was written to it, which is then also written to the real
// stderr: go-fuse starts fusermount3 with our stderr, and fusermount3's
// reason for failing is the one thing worth telling the user. In the
// background child stderr is /dev/null, so without this it is lost.
func captureStderr(f func() error) (string, error) {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	saved, err := syscall.Dup(2)
	if err != nil {
		return "", fmt.Errorf("save stderr: %w", err)
	}
	defer syscall.Close(saved)
	r, w, err := os.Pipe()
	if err != nil {
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	defer r.Close()
	if err := syscall.Dup3(int(w.Fd()), 2, 0); err != nil {
		w.Close()
		return "", fmt.Errorf("capture stderr: %w", err)
	}
	var buf bytes.Buffer
	copied := make(chan struct{})
	go func() { // ends at EOF: once fd 2 and w are restored and closed below
		defer close(copied)
		_, _ = io.Copy(&buf, io.LimitReader(r, 64<<10))
		_, _ = io.Copy(io.Discard, r)
	}()
	ferr := f()
	restoreErr := syscall.Dup3(saved, 2, 0)
	w.Close()
	<-copied
	if buf.Len() > 0 {
		_, _ = syscall.Write(2, buf.Bytes()) // what the user would have seen anyway
	}
	if restoreErr != nil {
		return buf.String(), fmt.Errorf("restore stderr: %w", restoreErr)
	}
	return buf.String(), ferr
}
