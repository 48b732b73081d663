package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	line := "4242 (efs fuse) x) S 1 4242 4242 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 8 0 100 1000 200\n"
	got, err := parseStatCPU([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 175 * clockTick; got != want {
		t.Errorf("CPU = %v, want %v (utime 150 + stime 25 ticks)", got, want)
	}
	for _, bad := range []string{"", "12 (x) S 1 2", "12 (x) S 1 2 3 4 5 6 7 8 9 u v 1"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
}

func TestParseVmHWM(t *testing.T) {
	got, err := parseVmHWM([]byte("Name:\tefs-fuse\nVmPeak:\t 999 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 100 kB\n"))
	if err != nil || got != 50<<20 {
		t.Errorf("parseVmHWM = %d, %v; want %d", got, err, 50<<20)
	}
	if _, err := parseVmHWM([]byte("VmRSS:\t 100 kB\n")); err == nil {
		t.Error("parseVmHWM accepted a status without VmHWM")
	}
}

// The meter charges a step's CPU to the processes that did it: the bench
// process burning CPU shows in the client column, and the peak RSS of
// the serving process (here the bench itself) covers memory it touched.
func TestMeterCountsCPUAndPeak(t *testing.T) {
	m := meter{procs: procSet{serving: self, hasServ: true, client: []int{self}}}
	m.begin()
	deadline := time.Now().Add(200 * time.Millisecond)
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	for time.Now().Before(deadline) {
		_ = bytes.IndexByte(buf, 0xff^buf[1])
	}
	u := m.end()
	if m.err != nil {
		t.Fatal(m.err)
	}
	if u.clientCPU < 100*time.Millisecond || u.servingCPU != u.clientCPU {
		t.Errorf("CPU: client %v, serving %v; want >= 100ms each, equal (one process)", u.clientCPU, u.servingCPU)
	}
	if u.peakRSS < 64<<20 {
		t.Errorf("peak RSS %d MiB, want >= 64 MiB (a 64 MiB buffer was touched)", u.peakRSS>>20)
	}
	// A process that went away leaves the figures out, not wrong.
	m = meter{procs: procSet{client: []int{self, 1 << 30}}}
	m.begin()
	if u := m.end(); u != (usage{}) || m.err == nil {
		t.Errorf("usage %+v, err %v for a missing process; want none and an error", u, m.err)
	}
}

func TestWriteTableCosts(t *testing.T) {
	r := sampleReport()
	for i := range r.Results {
		res := &r.Results[i]
		if res.Workload == "seqwrite" && res.Path == "fuse" {
			res.Bytes = 2 << 30
			res.ServingCPU, res.ClientCPU, res.PeakRSS, res.RPCs = Duration(1500*time.Millisecond), Duration(3*time.Second), 100<<20, 25
		}
		if res.Workload == "listdir" && res.Path == "client" {
			res.ClientCPU = Duration(5 * time.Millisecond) // 10 ops
		}
	}
	var b bytes.Buffer
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"WORKLOAD  PATH          CPU  CLIENT CPU  PEAK RSS  RPCS/OP\n",
		"seqwrite  fuse    0.75s/GiB   1.50s/GiB    100MiB     2.50\n", // 25 RPCs, 10 blocks
		"listdir   client          -    500µs/op         -        -\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
}
