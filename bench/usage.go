package bench

import (
	"errors"
	"time"
)

// procSet names the processes a path's work runs in, for the CPU and
// memory columns. self is the bench process.
type procSet struct {
	// serving is the process that serves the path's I/O: the efs-fuse
	// daemon of the fuse path, the bench itself for the in-process
	// client paths. Empty when no process of ours serves it (the kernel's
	// NFS client, the local export).
	serving int
	hasServ bool
	// client is every process on the client host the path costs: the
	// application (the bench) and whatever serves it.
	client []int
}

// procsOf returns the processes of p: a path that runs in processes of
// its own says so (processes), any other is the bench process alone.
func procsOf(p Path) procSet {
	if pp, ok := p.(interface{ processes() procSet }); ok {
		return pp.processes()
	}
	return procSet{client: []int{self}}
}

// usage is what one measured step cost.
type usage struct {
	servingCPU time.Duration // of procSet.serving; 0 without one
	clientCPU  time.Duration // of every procSet.client process
	peakRSS    int64         // serving process's VmHWM during the step; 0 unknown
	calls      int64         // RPC calls the target's front end relayed; 0 unknown
}

// meter takes the CPU books of a path's processes at the start of a
// measured step and again at its end (begin, end).
type meter struct {
	procs procSet
	// calls reads the target's count of RPC calls relayed (nil: none
	// to read, e.g. a remote target).
	calls  func() (uint64, error)
	calls0 uint64
	cpu0   map[int]time.Duration
	err    error // the first failure to read; the figures are then left out
}

// begin starts a measured step: it resets the serving process's peak RSS
// and reads every process's CPU so far. It returns the start time.
func (m *meter) begin() time.Time {
	m.err = nil
	m.cpu0 = map[int]time.Duration{}
	if m.procs.hasServ {
		// Not fatal: the peak is then the process's since it started.
		_ = resetPeakRSS(m.procs.serving)
	}
	for _, pid := range m.all() {
		c, err := cpuTime(pid)
		m.err = errors.Join(m.err, err)
		m.cpu0[pid] = c
	}
	if m.calls != nil {
		n, err := m.calls()
		m.err = errors.Join(m.err, err)
		m.calls0 = n
	}
	return time.Now()
}

// end finishes the step begun last and returns what it cost; nothing
// when a process's books could not be read.
func (m *meter) end() usage {
	var u usage
	diff := map[int]time.Duration{}
	for _, pid := range m.all() {
		c, err := cpuTime(pid)
		m.err = errors.Join(m.err, err)
		diff[pid] = c - m.cpu0[pid]
	}
	for _, pid := range m.procs.client {
		u.clientCPU += diff[pid]
	}
	if m.procs.hasServ {
		u.servingCPU = diff[m.procs.serving]
		rss, err := peakRSS(m.procs.serving)
		m.err = errors.Join(m.err, err)
		u.peakRSS = rss
	}
	if m.calls != nil {
		n, err := m.calls()
		m.err = errors.Join(m.err, err)
		u.calls = int64(n - m.calls0)
	}
	if m.err != nil {
		return usage{}
	}
	return u
}

// all is every process the meter reads, each once.
func (m *meter) all() []int {
	out := append([]int(nil), m.procs.client...)
	if m.procs.hasServ {
		for _, p := range out {
			if p == m.procs.serving {
				return out
			}
		}
		out = append(out, m.procs.serving)
	}
	return out
}
