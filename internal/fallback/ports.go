package fallback

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/efs-fuse/efs-fuse/internal/mountopts"
)

// PortRequest says where a tunnel port may come from.
type PortRequest struct {
	// Fixed is tlsport=N; 0 = choose from the range.
	Fixed int
	// Lower and Upper are port_range_lower_bound (inclusive) and
	// port_range_upper_bound (exclusive) from the config file.
	Lower, Upper int
	// StateDir holds the state files; a file ending in .<port> (the final
	// one or the ~ temp one) marks the port as taken, live tunnel or not:
	// reclaiming stale ones is the watchdog's job.
	StateDir string
	// ConfigPath is named in the error when the range is exhausted.
	ConfigPath string
	// Shuffle orders the candidates; nil = math/rand/v2. Random order keeps
	// concurrent mounts from racing for the same first port.
	Shuffle func([]int)
	Logger  *zap.Logger
}

// SelectPort binds 127.0.0.1 on the first candidate port that no state file
// claims and that is free, and returns the listener: holding it keeps the
// port ours until the caller has written its ~ state file. Errors are the
// helper's messages, as *mountopts.UsageError.
func SelectPort(req PortRequest) (net.Listener, error) {
	log := req.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var ports []int
	if req.Fixed != 0 {
		ports = []int{req.Fixed}
	} else {
		for p := req.Lower; p < req.Upper; p++ {
			ports = append(ports, p)
		}
		shuffle := req.Shuffle
		if shuffle == nil {
			shuffle = func(p []int) { rand.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] }) }
		}
		shuffle(ports)
	}
	claimed, err := claimedPorts(req.StateDir)
	if err != nil {
		return nil, err
	}
	for _, p := range ports {
		if f, ok := claimed[p]; ok {
			log.Debug("skip port: claimed by a state file", zap.Int("port", p), zap.String("state_file", f))
			continue
		}
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			log.Debug("skip port: cannot bind", zap.Int("port", p), zap.Error(err))
			continue
		}
		return ln, nil
	}
	if req.Fixed != 0 {
		return nil, &mountopts.UsageError{Msg: fmt.Sprintf("Specified port [%d] is unavailable. Try selecting a different port.", req.Fixed)}
	}
	return nil, &mountopts.UsageError{Msg: fmt.Sprintf(
		"Failed to locate an available port in the range [%d, %d], try specifying a different port range in %s",
		req.Lower, req.Upper, req.ConfigPath)}
}

// claimedPorts maps each port a file name in dir ends with (".20407") to
// that file. Like the helper, any file counts, not only ours.
func claimedPorts(dir string) (map[int]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state directory: %w", err)
	}
	claimed := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		i := strings.LastIndexByte(name, '.')
		if i < 0 {
			continue
		}
		if p, err := strconv.Atoi(name[i+1:]); err == nil {
			claimed[p] = name
		}
	}
	return claimed, nil
}
