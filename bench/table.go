package bench

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// WriteTable prints the report for a terminal: one line per workload and
// path (figure, p50, p99, ratio to the baseline), then the ratios alone as
// a workloads x paths matrix, then the skipped paths with their reasons.
func (r *Report) WriteTable(out io.Writer) error {
	ran := r.RanPaths()
	rows := [][]string{{"WORKLOAD", "PATH", "RESULT", "UNIT", "P50", "P99", "VS " + strings.ToUpper(r.Baseline)}}
	for _, w := range r.Workloads {
		for i, p := range ran {
			name := w.Name
			if i > 0 {
				name = ""
			}
			res, ok := r.Find(w.Name, p)
			switch {
			case !ok:
				rows = append(rows, []string{name, p, "-"})
			case res.Error != "":
				rows = append(rows, []string{name, p, "failed"})
			default:
				rows = append(rows, []string{name, p, FormatValue(res.Value), res.Unit,
					FormatLatency(time.Duration(res.P50)), FormatLatency(time.Duration(res.P99)), r.ratioCell(w.Name, p)})
			}
		}
	}
	writeAligned(out, rows, "llrlrrr")
	fmt.Fprintf(out, "\nRatio to %s (above 1.00x: faster than %s)\n", r.Baseline, r.Baseline)
	rows = [][]string{append([]string{"WORKLOAD"}, ran...)}
	for _, w := range r.Workloads {
		row := []string{w.Name}
		for _, p := range ran {
			row = append(row, r.ratioCell(w.Name, p))
		}
		rows = append(rows, row)
	}
	writeAligned(out, rows, "l")
	r.writeCosts(out)
	r.writeFootnotes(out)
	return nil
}

// writeAligned prints rows as columns two spaces apart, column i aligned
// left if align[i] is 'l' (names, units), else right (numbers).
func writeAligned(out io.Writer, rows [][]string, align string) {
	var widths []int
	for _, row := range rows {
		for i, c := range row {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < len(align) && align[i] == 'l' {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(out, strings.TrimRight(b.String(), " "))
	}
}

// writeFootnotes lists skipped paths, failed cells and cache notes: the
// table stays narrow, and nothing that qualifies a figure is lost.
func (r *Report) writeFootnotes(out io.Writer) {
	var lines []string
	if r.NConnect > 1 {
		lines = append(lines, fmt.Sprintf("nconnect=%d: the fuse and client paths each use %d connections per NFS session", r.NConnect, r.NConnect))
	}
	for _, p := range r.Paths {
		if p.Skipped != "" {
			lines = append(lines, fmt.Sprintf("path %s skipped: %s", p.Name, p.Skipped))
		}
	}
	notes := map[string]bool{}
	for _, res := range r.Results {
		if res.Error != "" {
			lines = append(lines, fmt.Sprintf("%s on %s failed: %s", res.Workload, res.Path, res.Error))
		}
		if res.Note != "" && !notes[res.Workload+res.Note] {
			notes[res.Workload+res.Note] = true
			lines = append(lines, fmt.Sprintf("%s: %s", res.Workload, res.Note))
		}
	}
	if len(lines) > 0 {
		fmt.Fprintf(out, "\n%s\n", strings.Join(lines, "\n"))
	}
}

func (r *Report) ratioCell(workload, path string) string {
	v, ok := r.Ratio(workload, path)
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.2fx", v)
}

// writeCosts prints what each cell cost in CPU and memory, when measured:
// the serving process's CPU (per GiB moved, or per operation), the whole
// client's (application plus serving process) and the serving process's
// peak RSS. Throughput varies with what else the machine runs; these do
// much less.
func (r *Report) writeCosts(out io.Writer) {
	rows := [][]string{{"WORKLOAD", "PATH", "CPU", "CLIENT CPU", "PEAK RSS", "RPCS/OP"}}
	for _, w := range r.Workloads {
		first := true
		for _, p := range r.RanPaths() {
			res, ok := r.Find(w.Name, p)
			if !ok || res.Error != "" || res.ClientCPU <= 0 {
				continue
			}
			name := w.Name
			if !first {
				name = ""
			}
			first = false
			serving := "-"
			if res.PeakRSS > 0 { // the serving process was measured: its CPU may be 0 (a warm page cache)
				serving = cpuCell(res, max(res.ServingCPU, 1))
			}
			rows = append(rows, []string{name, p, serving, cpuCell(res, res.ClientCPU), rssCell(res.PeakRSS), rpcCell(res)})
		}
	}
	if len(rows) == 1 {
		return
	}
	fmt.Fprintf(out, "\nCPU of the serving process and of the whole client (application + serving process), serving process's peak RSS,\nRPC calls per operation (per 1 MiB block for throughput)\n")
	writeAligned(out, rows, "llrrrr")
}

// cpuCell prints CPU per GiB moved for throughput workloads and per
// operation for the others, whose few bytes would make a per-GiB figure
// meaningless.
func cpuCell(res Result, cpu Duration) string {
	if cpu <= 0 {
		return "-"
	}
	if res.Unit == UnitMiBps {
		if v, ok := res.CPUPerGiB(cpu); ok {
			return fmt.Sprintf("%.2fs/GiB", v)
		}
		return "-"
	}
	if res.Ops <= 0 {
		return "-"
	}
	return FormatLatency(time.Duration(cpu)/time.Duration(res.Ops)) + "/op"
}

// rpcCell is the RPC calls per operation of the cell's figure.
func rpcCell(res Result) string {
	if res.RPCs <= 0 || res.Ops <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(res.RPCs)/float64(res.Ops))
}

func rssCell(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%dMiB", (b+(1<<20)-1)>>20)
}

// FormatValue prints a figure with about three significant digits.
func FormatValue(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// FormatLatency prints a latency in the unit that keeps it short.
func FormatLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
