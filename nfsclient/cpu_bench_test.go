package nfsclient_test

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuMeter measures the CPU time a benchmark costs this process (the
// client and, with the local target, its TLS front end) and ganesha. On a
// host whose cores are all busy, throughput is bytes per CPU second, so
// the ratio of two transports' CPU cost per byte bounds the ratio of
// their throughputs whatever the client does.
type cpuMeter struct {
	ganesha           int
	self0, server0    time.Duration
	selfOK, ganeshaOK bool
}

func startCPU(ganeshaPID int) *cpuMeter {
	m := &cpuMeter{ganesha: ganeshaPID}
	m.self0, m.selfOK = selfCPU()
	m.server0, m.ganeshaOK = pidCPU(ganeshaPID)
	return m
}

// report adds cpu-ms/MiB metrics for this process, ganesha and both.
func (m *cpuMeter) report(b *testing.B, bytes int64) {
	if bytes <= 0 {
		return
	}
	mib := float64(bytes) / (1 << 20)
	self, ok1 := selfCPU()
	server, ok2 := pidCPU(m.ganesha)
	if !m.selfOK || !ok1 {
		return
	}
	client := (self - m.self0).Seconds() * 1000 / mib
	b.ReportMetric(client, "proc-cpu-ms/MiB")
	if m.ganeshaOK && ok2 {
		g := (server - m.server0).Seconds() * 1000 / mib
		b.ReportMetric(g, "ganesha-cpu-ms/MiB")
		b.ReportMetric(client+g, "cpu-ms/MiB")
	}
}

func selfCPU() (time.Duration, bool) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// pidCPU reads utime+stime of pid from /proc (clock ticks of 1/100 s,
// USER_HZ on Linux).
func pidCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// Fields after the command: state is f[0]; utime and stime are
	// fields 14 and 15 of stat, f[11] and f[12] here.
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, true
}
