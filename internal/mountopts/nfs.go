package mountopts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// defaultNFS are the helper's NFS defaults, in the order it appends them.
var defaultNFS = []Option{
	{Key: "nfsvers", Value: "4.1", HasValue: true},
	{Key: "rsize", Value: "1048576", HasValue: true},
	{Key: "wsize", Value: "1048576", HasValue: true},
	{Key: "hard"},
	{Key: "timeo", Value: "600", HasValue: true},
	{Key: "retrans", Value: "2", HasValue: true},
	{Key: "noresvport"},
}

// NFSOptions returns the options for the NFS layer: the user's NFS options
// in order, then each default the user did not set. EFS-only options and
// x-* annotations (for mount(8) and systemd, not NFS) are left out.
func NFSOptions(o *Options) []string {
	var out []string
	for _, opt := range o.NFS {
		if strings.HasPrefix(opt.Key, "x-") {
			continue
		}
		out = append(out, opt.String())
	}
	for _, d := range defaultNFS {
		if o.userSet(d.Key) {
			continue
		}
		// minorversion= without a version means "4.x": adding nfsvers=4.1
		// would contradict minorversion=0.
		if d.Key == "nfsvers" && o.hasNFS("minorversion") {
			out = append(out, "nfsvers=4")
			continue
		}
		out = append(out, d.String())
	}
	return out
}

// userSet reports whether the user chose a value for a default's key,
// counting equivalent spellings.
func (o *Options) userSet(key string) bool {
	switch key {
	case "nfsvers":
		return o.hasNFS("nfsvers") || o.hasNFS("vers")
	case "hard":
		return o.hasNFS("hard") || o.hasNFS("soft")
	case "noresvport":
		return o.hasNFS("noresvport") || o.hasNFS("resvport")
	}
	return o.hasNFS(key)
}

// NFSSettings are the NFS options FUSE mode interprets, with the defaults
// and mount.nfs's last-one-wins rule applied.
type NFSSettings struct {
	Version string // "4.1" unless the user chose 4 or 4.0
	Hard    bool   // hard (default) or soft
	// Timeo is the RPC timeout before a retry (timeo is in deciseconds).
	Timeo        time.Duration
	Retrans      int
	Rsize, Wsize int
	ReadOnly     bool
	// NoAC disables attribute caching; the Ac* durations are then zero.
	NoAC                                   bool
	AcRegMin, AcRegMax, AcDirMin, AcDirMax time.Duration
	NoSUID, NoDev, NoExec                  bool
	NetDev, NoAuto, User, Users, NoFail    bool
	// NConnect is how many connections to the server (nconnect, 1-16):
	// in FUSE mode TLS connections bound to the one NFS session, READs
	// and WRITEs spread over them; in fallback mode the kernel's.
	NConnect int
}

// Settings returns the typed NFS settings. Parse has checked every integer.
func (o *Options) Settings() NFSSettings {
	s := NFSSettings{
		Version: "4.1", Hard: true, Timeo: 60 * time.Second, Retrans: 2,
		Rsize: 1048576, Wsize: 1048576, NConnect: 1,
		// Linux NFS client defaults.
		AcRegMin: 3 * time.Second, AcRegMax: 60 * time.Second,
		AcDirMin: 30 * time.Second, AcDirMax: 60 * time.Second,
	}
	sec := func(v string) time.Duration { n, _ := strconv.Atoi(v); return time.Duration(n) * time.Second }
	for _, opt := range o.NFS {
		n, _ := strconv.Atoi(opt.Value)
		switch opt.Key {
		case "vers", "nfsvers":
			s.Version = opt.Value
		case "minorversion":
			s.Version = "4." + opt.Value
		case "hard":
			s.Hard = true
		case "soft":
			s.Hard = false
		case "timeo":
			s.Timeo = time.Duration(n) * 100 * time.Millisecond
		case "retrans":
			s.Retrans = n
		case "nconnect":
			s.NConnect = n
		case "rsize":
			s.Rsize = n
		case "wsize":
			s.Wsize = n
		case "ro":
			s.ReadOnly = true
		case "rw":
			s.ReadOnly = false
		case "noac":
			s.NoAC = true
		case "ac":
			s.NoAC = false
		case "actimeo":
			d := sec(opt.Value)
			s.AcRegMin, s.AcRegMax, s.AcDirMin, s.AcDirMax = d, d, d, d
		case "acregmin":
			s.AcRegMin = sec(opt.Value)
		case "acregmax":
			s.AcRegMax = sec(opt.Value)
		case "acdirmin":
			s.AcDirMin = sec(opt.Value)
		case "acdirmax":
			s.AcDirMax = sec(opt.Value)
		case "nosuid", "suid":
			s.NoSUID = opt.Key == "nosuid"
		case "nodev", "dev":
			s.NoDev = opt.Key == "nodev"
		case "noexec", "exec":
			s.NoExec = opt.Key == "noexec"
		case "_netdev":
			s.NetDev = true
		case "noauto", "auto":
			s.NoAuto = opt.Key == "noauto"
		case "user", "nouser":
			s.User = opt.Key == "user"
		case "users":
			s.Users = true
		case "nofail":
			s.NoFail = true
		}
	}
	if s.Version == "4" || s.Version == "4.1" {
		s.Version = "4.1"
	}
	if s.NoAC {
		s.AcRegMin, s.AcRegMax, s.AcDirMin, s.AcDirMax = 0, 0, 0, 0
	}
	return s
}

// tolerated are options FUSE mode accepts without acting on them: generic
// mount(8) flags (mount.fuse3 prepends some) and NFS tuning that has no
// meaning for a userspace client.
var tolerated = map[string]bool{
	"defaults": true, "async": true, "sync": true, "atime": true, "noatime": true,
	"relatime": true, "norelatime": true, "strictatime": true, "nostrictatime": true,
	"diratime": true, "nodiratime": true, "lazytime": true, "nolazytime": true,
	"iversion": true, "noiversion": true, "silent": true, "loud": true,
	"noresvport": true, "resvport": true, "proto": true, "sec": true,
	"cto": true, "nocto": true, "lookupcache": true, "fsc": true, "nofsc": true,
	"sharecache": true, "nosharecache": true, "intr": true, "nointr": true,
	"bg": true, "fg": true, "retry": true, "local_lock": true, "port": true,
	"comment": true, "fsname": true, "subtype": true, "allow_other": true,
	"default_permissions": true,
}

// interpreted are the NFS options Settings reads.
var interpreted = map[string]bool{
	"vers": true, "nfsvers": true, "minorversion": true, "hard": true, "soft": true,
	"timeo": true, "retrans": true, "rsize": true, "wsize": true, "ro": true,
	"rw": true, "noac": true, "ac": true, "actimeo": true, "acregmin": true,
	"acregmax": true, "acdirmin": true, "acdirmax": true, "nosuid": true,
	"suid": true, "nodev": true, "dev": true, "noexec": true, "exec": true,
	"_netdev": true, "noauto": true, "auto": true, "user": true, "nouser": true,
	"users": true, "nofail": true, "nconnect": true,
}

// Unrecognized lists the options FUSE mode neither interprets nor knows
// to be harmless (NFS options it has no use for, and with ParseSloppy
// unknown ones); the mount warns about them. Port-based mode hands them
// all to mount.nfs4.
func (o *Options) Unrecognized() []string {
	var out []string
	for _, opt := range o.NFS {
		if interpreted[opt.Key] || tolerated[opt.Key] || strings.HasPrefix(opt.Key, "x-") {
			continue
		}
		out = append(out, opt.String())
	}
	return out
}

// intNFS are the NFS options whose value must be a non-negative integer.
var intNFS = []string{"timeo", "retrans", "rsize", "wsize", "actimeo",
	"acregmin", "acregmax", "acdirmin", "acdirmax", "port", "minorversion", "nconnect"}

// maxNConnect is the Linux client's bound on nconnect, and ours.
const maxNConnect = 16

// validateNFS checks the NFS options that FUSE mode interprets; mount.nfs
// would reject the same values in fallback mode.
func (o *Options) validateNFS() error {
	for _, opt := range o.NFS {
		for _, k := range intNFS {
			if opt.Key != k {
				continue
			}
			if n, err := strconv.Atoi(opt.Value); err != nil || n < 0 {
				return usagef(fmt.Sprintf("%s option [%s] is not an integer", opt.Key, opt.Value))
			}
		}
		switch opt.Key {
		case "vers", "nfsvers":
			switch opt.Value {
			case "4", "4.0", "4.1":
			default:
				return usagef(fmt.Sprintf("NFS version [%s] is not supported: EFS serves NFS 4.0 and 4.1 (use nfsvers=4.1)", opt.Value))
			}
		case "minorversion":
			if opt.Value != "0" && opt.Value != "1" {
				return usagef(fmt.Sprintf("NFS minor version [%s] is not supported: EFS serves NFS 4.0 and 4.1 (use nfsvers=4.1)", opt.Value))
			}
		case "nconnect":
			if n, _ := strconv.Atoi(opt.Value); n < 1 || n > maxNConnect {
				return usagef(fmt.Sprintf("nconnect option [%s] must be between 1 and %d", opt.Value, maxNConnect))
			}
		case "rsize", "wsize":
			// The kernel clamps; zero would mean "no data per RPC".
			if opt.Value == "0" {
				return usagef(fmt.Sprintf("%s option [0] must be positive", opt.Key))
			}
		}
	}
	return nil
}
