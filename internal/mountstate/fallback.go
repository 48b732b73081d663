package mountstate

import "fmt"

// Fallback is a fallback-mode mount's state file: the EFS mount helper's
// fields plus ours. The watchdog reads it to supervise the tunnel:
// restart Cmd when PID is gone, stop PID once MountPoint is unmounted,
// delete Files with it.
type Fallback struct {
	// PID is the tunnel process (0 in a ~ file before the tunnel
	// started); PIDStart its start time (ProcessStart).
	PID      int    `json:"pid"`
	PIDStart uint64 `json:"pid_start,omitempty"`
	// Cmd is the tunnel's argv; running it again restarts the tunnel on the
	// same port with the same verification.
	Cmd []string `json:"cmd"`
	// Files are other files that belong to this mount (tunnel log, the
	// directory of the certificate made for it) and go with the state
	// file. The watchdog removes only those inside the state directory.
	Files []string `json:"files"`
	// MountTime is seconds since the epoch, as the helper's time.time().
	MountTime  float64 `json:"mount_time"`
	MountPoint string  `json:"mountpoint"`
	FSID       string  `json:"fsId"`
	Region     string  `json:"region,omitempty"`
	// Ours: how the mount is reached and served.
	Mode    string `json:"mode"`
	DNSName string `json:"dnsName"`
	Port    int    `json:"port"`
	// The client certificate the tunnel presents, which it makes, renews
	// and writes here itself (in a directory listed in Files), and the key
	// it is made with ("" = none).
	Certificate string `json:"certificate,omitempty"`
	PrivateKey  string `json:"privateKey,omitempty"`
	AccessPoint string `json:"accessPoint,omitempty"`
	UseIAM      bool   `json:"useIam,omitempty"`
}

// ReadFallback reads one fallback state file (see Read for what is
// refused). A file of another mode, or malformed, is an error naming it;
// the old mode name "tunnel" reads as ModeFallback.
func ReadFallback(path string) (*Fallback, error) {
	var s Fallback
	if err := Read(path, &s); err != nil {
		return nil, err
	}
	if s.PID < 0 || s.MountPoint == "" || len(s.Cmd) == 0 {
		return nil, fmt.Errorf("state file %s is malformed: it needs pid, cmd and mountpoint", path)
	}
	if s.Mode == legacyModeTunnel {
		s.Mode = ModeFallback
	}
	if s.Mode != ModeFallback {
		return nil, fmt.Errorf("state file %s has mode %q, want %q", path, s.Mode, ModeFallback)
	}
	if err := checkPID(path, s.PID); err != nil {
		return nil, err
	}
	return &s, nil
}
