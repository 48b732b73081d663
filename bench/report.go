package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Report is one run: what ran, where, and every figure. It is the JSON
// document written by --json and read back by tools (and tests).
type Report struct {
	Started   time.Time    `json:"started"`
	Elapsed   Duration     `json:"elapsed"`
	Host      HostInfo     `json:"host"`
	Target    string       `json:"target"`   // "local" or the remote mount target
	Baseline  string       `json:"baseline"` // the path ratios are relative to
	Paths     []PathStatus `json:"paths"`
	Workloads []Workload   `json:"workloads"`
	Results   []Result     `json:"results"`
	Rounds    int          `json:"rounds,omitempty"` // each cell is the median of this many (see Config.Rounds)
	// NConnect is the connections per NFS session of the fuse and client
	// paths, when more than one (see Config.NConnect).
	NConnect int `json:"nconnect,omitempty"`
}

// HostInfo identifies the machine a run was made on.
type HostInfo struct {
	Hostname  string `json:"hostname"`
	Kernel    string `json:"kernel"`
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go_version"`
}

// PathStatus says whether a path ran and, if not, why.
type PathStatus struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Skipped     string `json:"skipped,omitempty"`
}

// Result is one cell of the table: a workload on a path.
type Result struct {
	Workload string   `json:"workload"`
	Path     string   `json:"path"`
	Value    float64  `json:"value"` // in Unit; 0 when Error is set
	Unit     string   `json:"unit"`
	Ops      int64    `json:"ops"`
	Bytes    int64    `json:"bytes"`
	Elapsed  Duration `json:"elapsed"`
	P50      Duration `json:"p50"`
	P99      Duration `json:"p99"`
	Note     string   `json:"note,omitempty"`
	Error    string   `json:"error,omitempty"`
	// ServingCPU is the CPU (user + system) of the process serving the
	// path during the measured step: the efs-fuse daemon on the fuse
	// path, the bench process on the in-process client paths. ClientCPU
	// is that of every client-side process: the application (the bench)
	// plus the serving process. PeakRSS is the serving process's peak
	// resident set during the step. Zero when not measured.
	ServingCPU Duration `json:"serving_cpu,omitempty"`
	ClientCPU  Duration `json:"client_cpu,omitempty"`
	PeakRSS    int64    `json:"peak_rss_bytes,omitempty"`
	// RPCs is the RPC calls (COMPOUNDs, NULL pings) the local target's
	// TLS front end relayed during the step, from every client of it:
	// the round trips the path cost. Zero when not counted (a remote
	// target, or client-plain, which bypasses the front end).
	RPCs int64 `json:"rpcs,omitempty"`
	// Rounds holds every round's Value when the run had several; the
	// rest of the Result is the median round's.
	Rounds []float64 `json:"rounds,omitempty"`
}

// Duration is a time.Duration that reads as "1.5ms" in JSON: the files
// are read by people as often as by programs.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// result turns a measure into a table cell.
func result(w Workload, path string, m measure) Result {
	r := Result{
		Workload: w.Name, Path: path, Unit: w.Unit, Ops: m.ops, Bytes: m.bytes,
		Elapsed: Duration(m.elapsed), P50: Duration(m.lat.quantile(0.50)), P99: Duration(m.lat.quantile(0.99)),
		Note: m.note,
	}
	if s := m.elapsed.Seconds(); s > 0 {
		if w.Unit == UnitMiBps {
			r.Value = float64(m.bytes) / (1 << 20) / s
		} else {
			r.Value = float64(m.ops) / s
		}
	}
	return r
}

// withUsage adds what the step cost to r.
func (r Result) withUsage(u usage) Result {
	r.ServingCPU, r.ClientCPU, r.PeakRSS, r.RPCs = Duration(u.servingCPU), Duration(u.clientCPU), u.peakRSS, u.calls
	return r
}

// CPUPerGiB is cpu per GiB moved by the step, in seconds; ok is false
// when it moved no bytes or cpu was not measured.
func (r Result) CPUPerGiB(cpu Duration) (float64, bool) {
	if r.Bytes <= 0 || cpu <= 0 {
		return 0, false
	}
	return time.Duration(cpu).Seconds() / (float64(r.Bytes) / (1 << 30)), true
}

// Find returns the result of workload on path.
func (r *Report) Find(workload, path string) (Result, bool) {
	for _, x := range r.Results {
		if x.Workload == workload && x.Path == path {
			return x, true
		}
	}
	return Result{}, false
}

// Ratio is path's figure divided by the baseline's for workload: above 1
// the path is faster than the baseline. ok is false when either figure is
// missing or zero.
func (r *Report) Ratio(workload, path string) (ratio float64, ok bool) {
	a, okA := r.Find(workload, path)
	b, okB := r.Find(workload, r.Baseline)
	if !okA || !okB || a.Value <= 0 || b.Value <= 0 {
		return 0, false
	}
	return a.Value / b.Value, true
}

// RanPaths are the paths that were not skipped, in run order.
func (r *Report) RanPaths() []string {
	var out []string
	for _, p := range r.Paths {
		if p.Skipped == "" {
			out = append(out, p.Name)
		}
	}
	return out
}

// WriteJSON writes the report to file, indented.
func (r *Report) WriteJSON(file string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode report: %w", err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	return nil
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(file string) (*Report, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("bench: read report: %w", err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("bench: decode report %s: %w", file, err)
	}
	return &r, nil
}
